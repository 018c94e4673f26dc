"""Home Assistant MQTT discovery payloads: one builder per entity kind, shared by every live runtime.

A :class:`Node` is one Home Assistant device (its discovery prefix, node id, ``device`` and
``origin`` blocks, and the availability topics every entity shares). Each builder returns
``(config topic, payload)`` for one entity; the caller publishes the payload as JSON, retained.

The payloads follow Home Assistant's MQTT discovery schema (``homeassistant`` 2025.4.4:
``components/mqtt/schemas.py``, ``sensor.py``, ``binary_sensor.py``, ``number.py``,
``select.py``) and, for energy, what its Energy dashboard asks of a battery sensor
(``components/energy/validate.py``: device class ``energy``, unit Wh/kWh/MWh/MJ/GJ, state class
``total_increasing`` or ``total``, a numeric state that is never negative). Availability is
the list form with ``availability_mode: all``: an entity is available only while every topic
says ``online`` (:data:`ONLINE`; ``offline`` otherwise: HA's default payloads).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import metadata

#: Config topic parts HA accepts (its discovery topic matcher): letters, digits, ``_`` and ``-``.
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
ONLINE, OFFLINE = "online", "offline"
#: Binary sensor states (HA's defaults for ``payload_on`` / ``payload_off``).
ON, OFF = "ON", "OFF"
#: ``entity_category`` values: a setting, or a reading for diagnostics only.
CONFIG, DIAGNOSTIC = "config", "diagnostic"

Entity = tuple[str, dict]


def safe_id(text: str) -> str:
    """``text`` as a discovery node or object id (every other character becomes ``_``)."""
    return _ID_UNSAFE.sub("_", text)


@cache
def software() -> tuple[str, str | None]:
    """socbal's installed version and its first ``http(s)`` project URL (``None`` when the package names none)."""
    try:
        meta = metadata.metadata("socbal")
    except metadata.PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown", None
    urls = [u.split(",", 1)[-1].strip() for u in meta.get_all("Project-URL") or []]
    return meta["Version"], next((u for u in urls if u.startswith(("http://", "https://"))), None)


def origin_block() -> dict:
    """The ``origin`` block: this software, its version and (when the package names one) where to get help."""
    version, url = software()
    origin = {"name": "socbal", "sw_version": version}
    if url:
        origin["support_url"] = url
    return origin


@dataclass(frozen=True)
class Node:
    """One Home Assistant device and what its entities share.

    ``availability``: topics that must all say ``online`` for any entity of the node to be
    available (typically the runtime's status topic, whose last will is ``offline``).
    """

    prefix: str
    node_id: str
    device: dict
    origin: dict
    availability: tuple[str, ...]

    @classmethod
    def create(
        cls,
        prefix: str,
        name: str,
        device_name: str,
        model: str,
        availability: tuple[str, ...],
        via: "Node | None" = None,
    ) -> "Node":
        """A node for ``name`` (its id is ``socbal_<name>``), shown in HA as ``device_name``.

        ``via``: the node this device is reached through (e.g. a home controller's own node): HA's ``via_device``.
        """
        node = safe_id(f"socbal_{name}")
        device = {
            "identifiers": [node],
            "name": device_name,
            "manufacturer": "socbal",
            "model": model,
            "sw_version": software()[0],
        }
        if via is not None:
            device["via_device"] = via.node_id
        return cls(prefix.rstrip("/"), node, device, origin_block(), tuple(availability))

    def config_topic(self, component: str, object_id: str) -> str:
        """``<prefix>/<component>/<node id>/<object id>/config``."""
        return f"{self.prefix}/{component}/{self.node_id}/{safe_id(object_id)}/config"

    def entity(
        self,
        component: str,
        object_id: str,
        name: str,
        extra_availability: tuple[str, ...] = (),
        entity_category: str | None = None,
        **fields: object,
    ) -> Entity:
        """The payload fields every entity has (name, unique id, device, origin, availability) plus ``fields``.

        ``extra_availability``: topics this entity needs ``online`` besides the node's.
        """
        payload: dict = {
            "name": name,
            "unique_id": f"{self.node_id}_{safe_id(object_id)}",
            "device": self.device,
            "origin": self.origin,
            "availability": [{"topic": t} for t in (*self.availability, *extra_availability)],
            "availability_mode": "all",
        }
        if entity_category is not None:
            payload["entity_category"] = entity_category
        payload.update({k: v for k, v in fields.items() if v is not None})
        return self.config_topic(component, object_id), payload


def sensor(
    node: Node,
    object_id: str,
    name: str,
    state_topic: str,
    unit: str | None = None,
    device_class: str | None = None,
    state_class: str | None = None,
    precision: int | None = None,
    expire_after_s: int | None = None,
    entity_category: str | None = None,
    extra_availability: tuple[str, ...] = (),
) -> Entity:
    """A numeric ``sensor`` whose state is the plain number published on ``state_topic``."""
    return node.entity(
        "sensor",
        object_id,
        name,
        extra_availability,
        entity_category,
        state_topic=state_topic,
        unit_of_measurement=unit,
        device_class=device_class,
        state_class=state_class,
        suggested_display_precision=precision,
        expire_after=expire_after_s,
    )


def soc_sensor(node: Node, object_id: str, name: str, state_topic: str, **kw) -> Entity:
    """State of charge, % (device class ``battery``, ``measurement``)."""
    return sensor(node, object_id, name, state_topic, unit="%", device_class="battery", state_class="measurement", **kw)


def power_sensor(node: Node, object_id: str, name: str, state_topic: str, **kw) -> Entity:
    """Power, W (device class ``power``, ``measurement``)."""
    kw.setdefault("precision", 0)
    return sensor(node, object_id, name, state_topic, unit="W", device_class="power", state_class="measurement", **kw)


def energy_sensor(node: Node, object_id: str, name: str, state_topic: str, **kw) -> Entity:
    """An energy meter, kWh (device class ``energy``, ``total_increasing``): what the Energy dashboard takes.

    Its published value must never decrease (HA reads a drop as a meter reset).
    """
    kw.setdefault("precision", 3)
    return sensor(node, object_id, name, state_topic, unit="kWh", device_class="energy", state_class="total_increasing", **kw)


def binary_sensor(
    node: Node,
    object_id: str,
    name: str,
    state_topic: str,
    device_class: str,
    entity_category: str | None = DIAGNOSTIC,
    extra_availability: tuple[str, ...] = (),
) -> Entity:
    """A ``binary_sensor`` whose state topic carries :data:`ON` / :data:`OFF` (e.g. ``connectivity``, ``problem``)."""
    return node.entity(
        "binary_sensor",
        object_id,
        name,
        extra_availability,
        entity_category,
        state_topic=state_topic,
        device_class=device_class,
        payload_on=ON,
        payload_off=OFF,
    )


def number(
    node: Node,
    object_id: str,
    name: str,
    command_topic: str,
    state_topic: str,
    min_value: float,
    max_value: float,
    step: float,
    unit: str | None = None,
    mode: str = "slider",
    entity_category: str | None = CONFIG,
) -> Entity:
    """A ``number`` setting: HA publishes the new value to ``command_topic``, reads the current one from ``state_topic``."""
    return node.entity(
        "number",
        object_id,
        name,
        (),
        entity_category,
        command_topic=command_topic,
        state_topic=state_topic,
        min=min_value,
        max=max_value,
        step=step,
        unit_of_measurement=unit,
        mode=mode,
    )


def select(
    node: Node,
    object_id: str,
    name: str,
    command_topic: str,
    state_topic: str,
    options: list[str],
    entity_category: str | None = CONFIG,
) -> Entity:
    """A ``select`` setting: one of ``options``, set on ``command_topic``, read from ``state_topic``."""
    return node.entity(
        "select",
        object_id,
        name,
        (),
        entity_category,
        command_topic=command_topic,
        state_topic=state_topic,
        options=list(options),
    )
