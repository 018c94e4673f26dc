"""Home Assistant MQTT discovery for a home: one HA device per storage device, plus the home's settings.

Per device: SOC, weakest pack SOC (battery sensors, %), battery power and setpoint (power
sensors, W, + discharge), state (text) and online (connectivity). Each value's state topic is
``<base>/devices/<id>/<field>`` (:func:`device_topic`); all but ``online`` are available only
while the controller is online *and* the device is (``<base>/devices/<id>/availability``).
With ``commands`` (no settings token: Home Assistant cannot send one) the home's strategy,
staging and grid target become select/number entities.
"""

from __future__ import annotations

import re
from typing import get_args

from socbal.home.models import HomeStrategyName, StagingName
from socbal.homectl.config import HomeRunConfig
from socbal.runtime.mqtt import Topics

#: Per-device values published for Home Assistant: field -> (name, unit, device class).
DEVICE_VALUES: dict[str, tuple[str, str | None, str | None]] = {
    "soc_pct": ("SOC", "%", "battery"),
    "weakest_soc_pct": ("Weakest pack SOC", "%", "battery"),
    "power_w": ("Battery power", "W", "power"),
    "setpoint_w": ("Setpoint", "W", "power"),
    "state": ("State", None, None),
}


def device_topic(topics: Topics, device_id: str, field: str) -> str:
    """Where one device value is published."""
    return f"{topics.base}/devices/{device_id}/{field}"


def _node(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", "_".join(("socbal", *parts)))


def home_discovery_messages(cfg: HomeRunConfig, topics: Topics, commands: bool = True) -> list[tuple[str, dict]]:
    """(config topic, payload) for every entity (see the module docstring)."""
    m = cfg.mqtt
    assert m is not None
    prefix = m.discovery_prefix
    out: list[tuple[str, dict]] = []
    home_node = _node(cfg.name)
    for d in cfg.devices:
        node = _node(cfg.name, d.id)
        device = {
            "identifiers": [node],
            "name": f"{m.device_name} {d.id}",
            "manufacturer": d.driver.split("-")[0].capitalize(),
            "model": getattr(d, "model", d.driver),
            "via_device": home_node,
        }
        availability = {
            "availability": [{"topic": topics.status}, {"topic": device_topic(topics, d.id, "availability")}],
            "availability_mode": "all",
            "payload_available": "online",
            "payload_not_available": "offline",
        }
        for field, (name, unit, device_class) in DEVICE_VALUES.items():
            payload: dict = {
                "name": name,
                "unique_id": f"{node}_{field}",
                "state_topic": device_topic(topics, d.id, field),
                "device": device,
                **availability,
            }
            if unit is not None:
                payload.update(unit_of_measurement=unit, device_class=device_class, state_class="measurement")
            out.append((f"{prefix}/sensor/{node}/{field}/config", payload))
        out.append(
            (
                f"{prefix}/binary_sensor/{node}/online/config",
                {
                    "name": "Online",
                    "unique_id": f"{node}_online",
                    "state_topic": device_topic(topics, d.id, "online"),
                    "payload_on": "ON",
                    "payload_off": "OFF",
                    "device_class": "connectivity",
                    "device": device,
                    "availability_topic": topics.status,
                },
            )
        )
    if not commands:
        return out
    home_device = {"identifiers": [home_node], "name": m.device_name, "manufacturer": "socbal", "model": "home controller"}
    common = {"availability_topic": topics.status, "device": home_device}
    for name, options in (("strategy", list(get_args(HomeStrategyName))), ("staging", list(get_args(StagingName)))):
        out.append(
            (
                f"{prefix}/select/{home_node}/{name}/config",
                {
                    "name": name.capitalize(),
                    "unique_id": f"{home_node}_{name}",
                    "command_topic": topics.setting_set(name),
                    "state_topic": topics.setting(name),
                    "options": options,
                    **common,
                },
            )
        )
    out.append(
        (
            f"{prefix}/number/{home_node}/grid_target_w/config",
            {
                "name": "Grid target",
                "unique_id": f"{home_node}_grid_target_w",
                "command_topic": topics.setting_set("grid_target_w"),
                "state_topic": topics.setting("grid_target_w"),
                "min": -2000,
                "max": 2000,
                "step": 10,
                "unit_of_measurement": "W",
                "mode": "box",
                **common,
            },
        )
    )
    return out
