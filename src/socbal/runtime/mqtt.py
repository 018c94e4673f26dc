"""MQTT: the runtime's broker connection (aiomqtt), with reconnect and backoff.

One connection serves three purposes:

- device link (``link = "mqtt"``): JSON telemetry in, JSON setpoints out;
- settings at run time: ``<base>/settings/backup_reserve_pct/set`` (number),
  ``<base>/settings/strategy/set`` (name) and ``<base>/settings/set`` (JSON object);
- state and Home Assistant MQTT discovery: a battery sensor per pack SOC, the
  backup reserve as a number entity, the strategy as a select entity.

Topics under ``base = mqtt.base_topic``:

====================================  ==========  =====================================================
topic                                 direction   payload
====================================  ==========  =====================================================
``<base>/device/telemetry``           device →    ``{"pv_w": W, "load_w": W, "grid_on": bool}``
``<base>/device/packs/<id>/telemetry``  device →  ``{"soc_pct", "power_w", "max_discharge_w", "max_charge_w", "online"}``
``<base>/device/setpoints``           → device    ``{"seq": n, "watchdog_s": s, "packs": {"<id>": W}}``
``<base>/runtime/status``             → all       ``online`` / ``offline`` (retained; last will ``offline``)
``<base>/state``                      → all       JSON: settings, SOC, setpoints, faults
``<base>/packs/<id>/soc_pct``         → HA        SOC, % (retained)
``<base>/settings/<name>``            → HA        current value (retained)
====================================  ==========  =====================================================
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import ssl
import time
from typing import TYPE_CHECKING

import aiomqtt
from pydantic import SecretStr

from socbal.ems.models import STRATEGY_NAMES
from socbal.errors import InputError
from socbal.runtime.config import MqttConfig, RuntimeConfig
from socbal.runtime.telemetry import DeviceReading, PackReading, Telemetry

if TYPE_CHECKING:  # pragma: no cover
    from socbal.runtime.control import SettingsController
    from socbal.runtime.store import StateStore

log = logging.getLogger("socbal.runtime.mqtt")

PACK_FIELDS = ("soc_pct", "power_w", "max_discharge_w", "max_charge_w")


class Topics:
    """Topic names under one base topic."""

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")
        b = self.base
        self.device_telemetry = f"{b}/device/telemetry"
        self.pack_telemetry_filter = f"{b}/device/packs/+/telemetry"
        self.setpoints = f"{b}/device/setpoints"
        self.device_status = f"{b}/device/status"
        self.status = f"{b}/runtime/status"
        self.state = f"{b}/state"
        self.settings_set = f"{b}/settings/set"

    def pack_telemetry(self, pack_id: str) -> str:
        return f"{self.base}/device/packs/{pack_id}/telemetry"

    def pack_soc(self, pack_id: str) -> str:
        return f"{self.base}/packs/{pack_id}/soc_pct"

    def setting(self, name: str) -> str:
        return f"{self.base}/settings/{name}"

    def setting_set(self, name: str) -> str:
        return f"{self.base}/settings/{name}/set"


def client_kwargs(cfg: MqttConfig, password: SecretStr | None, identifier: str, will: aiomqtt.Will | None) -> dict:
    """Keyword arguments for :class:`aiomqtt.Client` (credentials and TLS per the config)."""
    kwargs: dict = dict(
        hostname=cfg.host, port=cfg.port, identifier=identifier, keepalive=cfg.keepalive_s, will=will, timeout=5.0
    )
    if cfg.username is not None:
        kwargs["username"] = cfg.username
        kwargs["password"] = password.get_secret_value() if password is not None else None
    if cfg.tls is not None:
        ctx = ssl.create_default_context(cafile=str(cfg.tls.ca_file) if cfg.tls.ca_file else None)
        if cfg.tls.cert_file is not None:
            ctx.load_cert_chain(str(cfg.tls.cert_file), str(cfg.tls.key_file) if cfg.tls.key_file else None)
        if cfg.tls.insecure:
            ctx.check_hostname = False
        kwargs["tls_context"] = ctx
        kwargs["tls_insecure"] = cfg.tls.insecure
    return kwargs


def _json_object(payload: bytes, numbers: tuple[str, ...], flag: str) -> tuple[dict[str, float], bool]:
    """The named numbers and the boolean ``flag`` (default true) of a JSON object payload; ``ValueError`` on garbage."""
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"payload is not JSON ({err.__class__.__name__})") from None
    if not isinstance(data, dict):
        raise ValueError(f"payload must be a JSON object, got {type(data).__name__}")
    values = {}
    for name in numbers:
        v = data.get(name)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(f"{name} missing or not a number: {v!r}"[:120])
        values[name] = float(v)
    value = data.get(flag, True)
    if not isinstance(value, bool):
        raise ValueError(f"{flag} must be true or false: {value!r}"[:120])
    return values, value


def parse_pack_payload(payload: bytes, received_s: float) -> PackReading:
    """A pack telemetry message -> reading; raises ``ValueError`` with a short reason on garbage."""
    values, online = _json_object(payload, PACK_FIELDS, "online")
    return PackReading(online=online, received_s=received_s, **values)


def parse_device_payload(payload: bytes, received_s: float) -> DeviceReading:
    """A device telemetry message -> reading; raises ``ValueError`` on garbage."""
    values, grid_on = _json_object(payload, ("pv_w", "load_w"), "grid_on")
    return DeviceReading(grid_on=grid_on, received_s=received_s, **values)


def discovery_messages(cfg: RuntimeConfig, topics: Topics) -> list[tuple[str, dict]]:
    """Home Assistant MQTT discovery: (config topic, payload) for pack SOC sensors, reserve number, strategy select."""
    m = cfg.mqtt
    assert m is not None
    node = re.sub(r"[^A-Za-z0-9_-]", "_", f"socbal_{cfg.name}")
    device = {"identifiers": [node], "name": m.device_name, "manufacturer": "socbal", "model": "DC-DC storage EMS"}
    common = {
        "availability_topic": topics.status,
        "payload_available": "online",
        "payload_not_available": "offline",
        "device": device,
    }
    out: list[tuple[str, dict]] = []
    for p in cfg.packs:
        out.append(
            (
                f"{m.discovery_prefix}/sensor/{node}/{p.id}_soc/config",
                {
                    "name": f"{p.id} SOC",
                    "unique_id": f"{node}_{p.id}_soc",
                    "state_topic": topics.pack_soc(p.id),
                    "unit_of_measurement": "%",
                    "device_class": "battery",
                    "state_class": "measurement",
                    **common,
                },
            )
        )
    out.append(
        (
            f"{m.discovery_prefix}/number/{node}/backup_reserve/config",
            {
                "name": "Backup reserve",
                "unique_id": f"{node}_backup_reserve",
                "command_topic": topics.setting_set("backup_reserve_pct"),
                "state_topic": topics.setting("backup_reserve_pct"),
                "min": 5,
                "max": 100,
                "step": 1,
                "unit_of_measurement": "%",
                "mode": "slider",
                **common,
            },
        )
    )
    out.append(
        (
            f"{m.discovery_prefix}/select/{node}/strategy/config",
            {
                "name": "Strategy",
                "unique_id": f"{node}_strategy",
                "command_topic": topics.setting_set("strategy"),
                "state_topic": topics.setting("strategy"),
                "options": list(STRATEGY_NAMES),
                **common,
            },
        )
    )
    return out


class MqttService:
    """The runtime's MQTT connection; run :meth:`run` as a task. Also the device link when ``link = "mqtt"``."""

    def __init__(
        self, cfg: RuntimeConfig, settings: "SettingsController", store: "StateStore", password: SecretStr | None = None
    ) -> None:
        assert cfg.mqtt is not None
        self.cfg = cfg
        self.mcfg = cfg.mqtt
        self.settings = settings
        self.store = store
        self.password = password
        self.topics = Topics(self.mcfg.base_topic)
        self._client: aiomqtt.Client | None = None
        self._device: DeviceReading | None = None
        self._packs: dict[str, PackReading | None] = {p.id: None for p in cfg.packs}
        self._errors: dict[str, str] = {}
        self._seq = 0
        self.connects = 0  # successful connections so far (tests watch it)
        self.last_error: str | None = None

    @property
    def connected(self) -> bool:
        return self._client is not None

    async def run(self) -> None:
        """Connect, subscribe, handle messages; on a lost broker retry with exponential backoff. Cancel to stop."""
        rt = self.cfg.runtime
        backoff = rt.reconnect_min_s
        will = aiomqtt.Will(self.topics.status, "offline", qos=1, retain=True)
        while True:
            try:
                async with aiomqtt.Client(**client_kwargs(self.mcfg, self.password, self.mcfg.client_id, will)) as client:
                    await client.subscribe(
                        [
                            (self.topics.device_telemetry, 0),
                            (self.topics.pack_telemetry_filter, 0),
                            (self.topics.setting_set("backup_reserve_pct"), 1),
                            (self.topics.setting_set("strategy"), 1),
                            (self.topics.settings_set, 1),
                        ]
                    )
                    await client.publish(self.topics.status, "online", qos=1, retain=True)
                    if self.mcfg.discovery:
                        for topic, payload in discovery_messages(self.cfg, self.topics):
                            await client.publish(topic, json.dumps(payload), qos=1, retain=True)
                    self._client = client
                    self.connects += 1
                    self.last_error = None
                    backoff = rt.reconnect_min_s
                    self.store.log("link", f"mqtt: connected to {self.mcfg.host}:{self.mcfg.port}")
                    await self.publish_settings()
                    async for message in client.messages:
                        await self._handle(message)
            except (aiomqtt.MqttError, OSError) as err:
                was = self._client is not None
                self._client = None
                self.last_error = f"link: mqtt broker {self.mcfg.host}:{self.mcfg.port}: {err}"
                if was:
                    self.store.log("link", f"mqtt: connection lost: {err}")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2.0, rt.reconnect_max_s)
            finally:
                self._client = None

    async def close(self) -> None:
        """Say ``offline`` (retained) while still connected; then cancel the :meth:`run` task."""
        if self._client is not None:
            try:
                await self._client.publish(self.topics.status, "offline", qos=1, retain=True, timeout=2)
            except aiomqtt.MqttError:
                pass

    async def _handle(self, message: aiomqtt.Message) -> None:
        topic = message.topic
        payload = message.payload if isinstance(message.payload, bytes) else str(message.payload or "").encode()
        now = time.monotonic()
        if topic.matches(self.topics.pack_telemetry_filter):
            pack_id = str(topic).split("/")[-2]
            if pack_id not in self._packs:
                return
            try:
                self._packs[pack_id] = parse_pack_payload(payload, now)
                self._errors.pop(pack_id, None)
            except ValueError as err:
                self._packs[pack_id] = None
                self._errors[pack_id] = f"garbage: {err}"
        elif topic.matches(self.topics.device_telemetry):
            try:
                self._device = parse_device_payload(payload, now)
                self._errors.pop("device", None)
            except ValueError as err:
                self._device = None
                self._errors["device"] = f"garbage: {err}"
        else:
            await self._handle_setting(str(topic), payload)

    async def _handle_setting(self, topic: str, payload: bytes) -> None:
        text = payload.decode("utf-8", errors="replace").strip()
        try:
            if topic == self.topics.setting_set("backup_reserve_pct"):
                try:
                    value = float(text)
                except ValueError:
                    value = text  # let validation name it
                if isinstance(value, float) and not math.isfinite(value):
                    value = text
                patch = {"backup_reserve_pct": value}
            elif topic == self.topics.setting_set("strategy"):
                patch = {"strategy": text}
            else:
                try:
                    patch = json.loads(text)
                except json.JSONDecodeError:
                    patch = text
            self.settings.propose(patch, source="mqtt")
        except InputError as err:
            log.warning("mqtt setting rejected: %s", err)
        await self.publish_settings()

    async def publish_settings(self) -> None:
        """Publish the settings in force after the next cycle to their state topics (retained)."""
        if self._client is None:
            return
        s = self.settings.latest
        try:
            await self._client.publish(self.topics.setting("backup_reserve_pct"), f"{s.backup_reserve_pct:g}", qos=1, retain=True)
            await self._client.publish(self.topics.setting("strategy"), s.strategy, qos=1, retain=True)
        except aiomqtt.MqttError:
            pass

    async def publish_state(self, state: dict) -> None:
        """Publish the runtime state and each pack's SOC (for Home Assistant)."""
        if self._client is None:
            return
        try:
            await self._client.publish(self.topics.state, json.dumps(state), qos=0, retain=True)
            for pack_id, soc in state.get("soc_pct", {}).items():
                await self._client.publish(self.topics.pack_soc(pack_id), f"{soc:.1f}", qos=0, retain=True)
        except aiomqtt.MqttError:
            pass

    # --- device link -------------------------------------------------------------------------------

    async def read(self) -> Telemetry:
        """The latest telemetry received (with ``errors["link"]`` while the broker is unreachable)."""
        tel = Telemetry(device=self._device, packs=dict(self._packs), errors=dict(self._errors))
        if self._client is None:
            tel.errors["link"] = self.last_error or "link: mqtt broker not connected"
        return tel

    async def write(self, setpoints_w: dict[str, float], watchdog_s: int) -> bool:
        """Publish the setpoints (not retained: a restarted device must not act on old ones)."""
        if self._client is None:
            return False
        self._seq += 1
        body = {"seq": self._seq, "watchdog_s": watchdog_s, "packs": setpoints_w}
        try:
            await self._client.publish(self.topics.setpoints, json.dumps(body), qos=0)
        except aiomqtt.MqttError:
            return False
        return True
