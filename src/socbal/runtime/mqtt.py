"""MQTT: the runtime's broker connection (aiomqtt), with reconnect and backoff.

One connection serves three purposes:

- device link (``link = "mqtt"``): JSON telemetry in, JSON setpoints out;
- settings at run time: ``<base>/settings/backup_reserve_pct/set`` (number),
  ``<base>/settings/strategy/set`` (name) and ``<base>/settings/set`` (JSON object);
- state and Home Assistant MQTT discovery (:func:`discovery_messages`, built with
  :mod:`socbal.runtime.discovery`): per pack SOC, power, online and fault; battery
  power and energy in/out (kWh, for the Energy dashboard); grid power and import/export
  when the device reports ``grid_w``; the backup reserve (number) and strategy (select).

Topics under ``base = mqtt.base_topic``:

====================================  ==========  =====================================================
topic                                 direction   payload
====================================  ==========  =====================================================
``<base>/device/telemetry``           device →    ``{"pv_w": W, "load_w": W, "grid_on": bool}``, optional ``"grid_w"``
``<base>/device/packs/<id>/telemetry``  device →  ``{"soc_pct", "power_w", "max_discharge_w", "max_charge_w", "online"}``
``<base>/device/setpoints``           → device    ``{"seq": n, "watchdog_s": s, "packs": {"<id>": W}}``
``<base>/runtime/status``             → all       ``online`` / ``offline`` (retained; last will ``offline``)
``<base>/state``                      → all       JSON: settings, SOC, setpoints, faults
``<base>/packs/<id>/soc_pct``         → HA        SOC, % (retained)
``<base>/packs/<id>/power_w``         → HA        measured pack power, W, + discharge (retained)
``<base>/packs/<id>/online|fault``    → HA        ``ON`` / ``OFF`` (retained)
``<base>/packs/<id>/availability``    → HA        ``online`` / ``offline`` (retained)
``<base>/battery/power_w``            → HA        all packs' measured power, W, + discharge (retained)
``<base>/grid/power_w``               → HA        grid power, W, + import (retained; when reported)
``<base>/energy/<name>_kwh``          → HA        ``battery_in|battery_out|grid_import|grid_export``, kWh (retained)
``<base>/settings/<name>``            → HA        current value (retained)
====================================  ==========  =====================================================
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

import aiomqtt
from pydantic import SecretStr

from socbal.ems.models import STRATEGY_NAMES, Settings
from socbal.errors import InputError
from socbal.runtime import discovery
from socbal.runtime.config import MqttConfig, RuntimeConfig
from socbal.runtime.mqtt_login import BrokerConnection
from socbal.runtime.payload import parse_json, shorten
from socbal.runtime.ratelimit import ThrottledLog, TokenBucket
from socbal.runtime.settings import SettingsController
from socbal.runtime.store import StateStore
from socbal.runtime.telemetry import DeviceReading, PackReading, Telemetry

log = logging.getLogger("socbal.runtime.mqtt")

PACK_FIELDS = ("soc_pct", "power_w", "max_discharge_w", "max_charge_w")
#: A telemetry ``ts`` this far ahead of the runtime's clock is refused, s.
MAX_CLOCK_SKEW_S = 5.0
#: Commands (settings messages) waiting to be handled; more are dropped.
MAX_QUEUED_COMMANDS = 100
#: Distinct telemetry topics held at once (latest message per topic).
MAX_TELEMETRY_TOPICS = 256


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
        self.battery_power = f"{b}/battery/power_w"
        self.grid_power = f"{b}/grid/power_w"

    def pack_telemetry(self, pack_id: str) -> str:
        return f"{self.base}/device/packs/{pack_id}/telemetry"

    def pack_soc(self, pack_id: str) -> str:
        return f"{self.base}/packs/{pack_id}/soc_pct"

    def pack_availability(self, pack_id: str) -> str:
        return f"{self.base}/packs/{pack_id}/availability"

    def pack_power(self, pack_id: str) -> str:
        return f"{self.base}/packs/{pack_id}/power_w"

    def pack_online(self, pack_id: str) -> str:
        return f"{self.base}/packs/{pack_id}/online"

    def pack_fault(self, pack_id: str) -> str:
        return f"{self.base}/packs/{pack_id}/fault"

    def energy(self, name: str) -> str:
        return f"{self.base}/energy/{name}_kwh"

    def setting(self, name: str) -> str:
        return f"{self.base}/settings/{name}"

    def setting_set(self, name: str) -> str:
        return f"{self.base}/settings/{name}/set"


class UndatedReading(ValueError):
    """A reading that must carry ``ts`` (a retained message: its age is unknown) but does not."""


def _json_object(
    payload: bytes,
    numbers: tuple[str, ...],
    flag: str,
    received_s: float,
    wall_s: float,
    require_ts: bool,
    optional: tuple[str, ...] = (),
) -> dict:
    """The named numbers, the ``optional`` ones (``None`` when absent), the boolean ``flag`` (default true) and ``received_s``.

    An optional ``ts`` (Unix time, s) dates the reading: ``received_s`` is moved back by its age;
    without one, ``require_ts`` raises :class:`UndatedReading`.
    ``ValueError`` with a short reason on garbage (see :func:`~socbal.runtime.payload.parse_json`).
    """
    data = parse_json(payload)
    if not isinstance(data, dict):
        raise ValueError(f"payload must be a JSON object, got {type(data).__name__}")
    values: dict = {}
    for name in (*numbers, *optional):
        v = data.get(name)
        if v is None and name in optional:
            values[name] = None
        elif isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(f"{name} missing or not a number: {shorten(v)}")
        else:
            values[name] = float(v)
    value = data.get(flag, True)
    if not isinstance(value, bool):
        raise ValueError(f"{flag} must be true or false: {shorten(value)}")
    values[flag] = value
    ts = data.get("ts")
    if ts is None and require_ts:
        raise UndatedReading("retained telemetry without ts (its age is unknown)")
    if ts is not None:
        if isinstance(ts, bool) or not isinstance(ts, (int, float)) or not math.isfinite(ts):
            raise ValueError(f"ts must be a Unix time in seconds: {shorten(ts)}")
        age_s = wall_s - float(ts)
        if age_s < -MAX_CLOCK_SKEW_S:
            raise ValueError(f"ts is {-age_s:.0f} s in the future (clock skew above {MAX_CLOCK_SKEW_S:g} s)")
        received_s -= max(age_s, 0.0)
    values["received_s"] = received_s
    return values


def parse_pack_payload(payload: bytes, received_s: float, wall_s: float | None = None, require_ts: bool = False) -> PackReading:
    """A pack telemetry message -> reading; raises ``ValueError`` with a short reason on garbage."""
    wall_s = time.time() if wall_s is None else wall_s
    return PackReading(**_json_object(payload, PACK_FIELDS, "online", received_s, wall_s, require_ts))


def parse_device_payload(
    payload: bytes, received_s: float, wall_s: float | None = None, require_ts: bool = False
) -> DeviceReading:
    """A device telemetry message -> reading; raises ``ValueError`` on garbage."""
    wall_s = time.time() if wall_s is None else wall_s
    return DeviceReading(**_json_object(payload, ("pv_w", "load_w"), "grid_on", received_s, wall_s, require_ts, ("grid_w",)))


#: Energy totals the runtime keeps (kWh, never decreasing) and what each counts.
ENERGY_NAMES = {
    "battery_in": "Battery energy in",  # charged into the packs
    "battery_out": "Battery energy out",  # discharged from the packs
    "grid_import": "Grid energy import",
    "grid_export": "Grid energy export",
}


def discovery_messages(cfg: RuntimeConfig, topics: Topics, commands: bool = True, grid: bool = False) -> list[tuple[str, dict]]:
    """Home Assistant MQTT discovery: (config topic, payload) for every entity of the device.

    Per pack: SOC and power (available only while the runtime *and* the pack are online, and
    expiring when no value came for a while), online (connectivity) and fault (problem)
    binary sensors (diagnostic). For the device: battery power, energy into and out of the
    battery (``total_increasing`` kWh, for the Energy dashboard's battery section), and with
    ``grid`` (the device reports its grid power) grid power and grid import/export energy.
    With ``commands`` (no settings token configured): the reserve number and strategy select.
    """
    m = cfg.mqtt
    assert m is not None
    node = discovery.Node.create(m.discovery_prefix, cfg.name, m.device_name, "DC-DC storage EMS", (topics.status,))
    expire_s = max(10, int(math.ceil(3 * max(cfg.runtime.period_s, cfg.runtime.max_telemetry_age_s))))
    out: list[tuple[str, dict]] = []
    for p in cfg.packs:
        pack_online = (topics.pack_availability(p.id),)
        out += [
            discovery.soc_sensor(
                node, f"{p.id}_soc", f"{p.id} SOC", topics.pack_soc(p.id), expire_after_s=expire_s, extra_availability=pack_online
            ),
            discovery.power_sensor(
                node,
                f"{p.id}_power",
                f"{p.id} power",
                topics.pack_power(p.id),
                expire_after_s=expire_s,
                extra_availability=pack_online,
            ),
            discovery.binary_sensor(node, f"{p.id}_online", f"{p.id} online", topics.pack_online(p.id), "connectivity"),
            discovery.binary_sensor(node, f"{p.id}_fault", f"{p.id} fault", topics.pack_fault(p.id), "problem"),
        ]
    out.append(discovery.power_sensor(node, "battery_power", "Battery power", topics.battery_power, expire_after_s=expire_s))
    if grid:
        out.append(discovery.power_sensor(node, "grid_power", "Grid power", topics.grid_power, expire_after_s=expire_s))
    for name, title in ENERGY_NAMES.items():
        if grid or not name.startswith("grid"):
            out.append(discovery.energy_sensor(node, f"{name}_energy", title, topics.energy(name)))
    if not commands:
        return out
    out.append(
        discovery.number(
            node,
            "backup_reserve",
            "Backup reserve",
            topics.setting_set("backup_reserve_pct"),
            topics.setting("backup_reserve_pct"),
            5,
            100,
            1,
            unit="%",
        )
    )
    out.append(
        discovery.select(
            node, "strategy", "Strategy", topics.setting_set("strategy"), topics.setting("strategy"), list(STRATEGY_NAMES)
        )
    )
    return out


def inbox_queue(
    admit: Callable[[aiomqtt.Message], bool],
    is_command: Callable[[aiomqtt.Message], bool],
    max_commands: int = MAX_QUEUED_COMMANDS,
) -> type[asyncio.Queue]:
    """A queue class for :class:`aiomqtt.Client` that bounds what waits and never lets commands starve telemetry.

    ``admit(message)`` runs as each message arrives (size, retain and rate checks) and
    may refuse it. Telemetry keeps only the latest message per topic (at most
    :data:`MAX_TELEMETRY_TOPICS` topics) and always comes out first; commands wait in
    order, at most ``max_commands`` of them (more are refused by ``admit``'s caller).
    """

    class Inbox(asyncio.Queue):
        def _init(self, maxsize: int) -> None:
            self._telemetry: dict[str, aiomqtt.Message] = {}
            self._commands: deque[aiomqtt.Message] = deque()

        def qsize(self) -> int:
            return len(self._telemetry) + len(self._commands)

        def empty(self) -> bool:
            return not self._telemetry and not self._commands

        def _put(self, message: aiomqtt.Message) -> None:
            if not admit(message):
                return
            if is_command(message):
                if len(self._commands) < max_commands:
                    self._commands.append(message)
                return
            topic = str(message.topic)
            if topic in self._telemetry or len(self._telemetry) < MAX_TELEMETRY_TOPICS:
                self._telemetry.pop(topic, None)
                self._telemetry[topic] = message

        def _get(self) -> aiomqtt.Message:
            if self._telemetry:
                return self._telemetry.pop(next(iter(self._telemetry)))
            return self._commands.popleft()

    return Inbox


def admit_message(message: aiomqtt.Message, command: bool, cfg: MqttConfig, rate: TokenBucket, rejects: ThrottledLog) -> bool:
    """Whether an arriving message may be queued: not over ``cfg.max_payload_bytes``; a ``command`` also not retained
    (commands act once, when sent) and within the settings rate. Each refusal is one (rate-limited) ``rejects`` line."""
    size = len(message.payload) if isinstance(message.payload, (bytes, str)) else 0
    if size > cfg.max_payload_bytes:
        rejects.warning(f"mqtt: {message.topic}: payload of {size} bytes refused (at most {cfg.max_payload_bytes})")
        return False
    if not command:
        return True
    if message.retain:
        rejects.warning(f"mqtt: {message.topic}: retained command ignored (commands act once, when sent)")
        return False
    if not rate.allow():
        rejects.warning(f"mqtt: {message.topic}: settings rate limit ({cfg.settings_rate_per_s:g}/s) exceeded")
        return False
    return True


def payload_bytes(message: aiomqtt.Message) -> bytes:
    """A message's payload as bytes."""
    p = message.payload
    return p if isinstance(p, bytes) else str(p if p is not None else "").encode()


class SettingsBroker:
    """What the runtime's and the home's broker connections share: the topics, the bounded inbox (size cap, no
    retained commands, the settings rate), settings messages (the token check), retained values published only
    when they change, and ``offline`` on the status topic at close. Subclasses fill ``_command_topics`` and
    :meth:`_plain_patch` (the single-value ``<base>/settings/<name>/set`` topics)."""

    def __init__(
        self,
        mcfg: MqttConfig,
        store: StateStore,
        password: SecretStr | None,
        settings_token: SecretStr | None,
        logger: logging.Logger,
    ) -> None:
        self.mcfg = mcfg
        self.store = store
        self.password = password
        self.settings_token = settings_token
        self.topics = Topics(mcfg.base_topic)
        self._command_topics: set[str] = set()
        self._command_rate = TokenBucket(mcfg.settings_rate_per_s, mcfg.settings_burst)
        self.rejects = ThrottledLog(logger, sink=lambda text: store.log("rejected", text))
        self._client: aiomqtt.Client | None = None
        self._lost = asyncio.Event()  # set when the connection ends (a new one for each attempt)
        self._published: dict[str, str] = {}  # retained topic -> payload last published there (this connection)
        self.connects = 0  # successful connections so far (tests watch it)
        will = aiomqtt.Will(self.topics.status, "offline", qos=1, retain=True)
        queue = inbox_queue(self._admit, self._is_command)
        self.connection = BrokerConnection(mcfg, password, mcfg.client_id, will, queue_type=queue)
        #: Why the broker is not connected (one line; a refused login or TLS names the fields to fix); None once connected.
        self.last_error: str | None = None

    @property
    def connected(self) -> bool:
        return self._client is not None

    def _is_command(self, message: aiomqtt.Message) -> bool:
        return str(message.topic) in self._command_topics

    def _admit(self, message: aiomqtt.Message) -> bool:
        """Size, retain and rate checks, as the message arrives (before it is queued or parsed)."""
        return admit_message(message, self._is_command(message), self.mcfg, self._command_rate, self.rejects)

    def _plain_patch(self, topic: str, text: str) -> object:
        """The settings change a single-value ``<base>/settings/<name>/set`` message asks for."""
        raise NotImplementedError

    def _settings_patch(self, topic: str, payload: bytes) -> object:
        """The settings change a message asks for (validation names anything wrong); ``InputError`` when refused:
        with a settings token, only a JSON object carrying it on ``<base>/settings/set``."""
        if topic != self.topics.settings_set:
            if self.settings_token is not None:
                raise InputError(
                    f"{topic}: refused: a settings token is configured; send a JSON object with it to {self.topics.settings_set}"
                )
            return self._plain_patch(topic, payload.decode("utf-8", errors="replace").strip())
        try:
            patch = parse_json(payload, self.mcfg.max_payload_bytes)
        except ValueError as err:
            raise InputError(f"{topic}: {err}") from None
        if self.settings_token is not None:
            given = patch.pop("token", None) if isinstance(patch, dict) else None
            expected = self.settings_token.get_secret_value().encode()
            if not isinstance(given, str) or not hmac.compare_digest(given.encode(), expected):
                raise InputError(f"{topic}: refused: missing or wrong settings token")
        return patch

    def _connecting(self) -> None:
        """A connection attempt begins: :meth:`_publish_acked` waits on it until :meth:`_connection_ended`."""
        self._lost = asyncio.Event()

    def _connection_ended(self) -> None:
        """The connection is gone: no client to publish on; publishes waiting for an acknowledgement end now."""
        self._client = None
        self._lost.set()

    async def _while_connected(self, publishing: Coroutine[Any, Any, None]) -> None:
        """Await ``publishing`` (publishes on the current connection) while the connection lasts: a connection lost
        meanwhile ends the wait at once (``MqttError``). aiomqtt alone waits its whole timeout (5 s) for the broker's
        acknowledgement of a QoS-1 message, or for a QoS-0 one to leave a socket that closed, and the control cycle
        publishing its state or setpoints waited with it: no cycle, no link fault, no setpoint for 5 s."""
        lost = self._lost
        if lost.is_set():
            publishing.close()
            raise aiomqtt.MqttError("mqtt: connection lost")
        work = asyncio.ensure_future(publishing)
        ended = asyncio.ensure_future(lost.wait())
        try:
            await asyncio.wait((work, ended), return_when=asyncio.FIRST_COMPLETED)
        finally:
            ended.cancel()
            if not work.done():
                work.cancel()
        if not work.done() or work.cancelled():
            raise aiomqtt.MqttError("mqtt: connection lost while publishing")
        work.result()

    async def publish_state(self, state: dict) -> None:
        """Publish ``state`` (see :meth:`_send_state`) on the current connection; nothing while there is none, and
        the wait ends with the connection (:meth:`_while_connected`): the control cycle awaits this."""
        client = self._client
        if client is None:
            return
        try:
            await self._while_connected(self._send_state(client, state))
        except aiomqtt.MqttError:
            pass

    async def _send_state(self, client: aiomqtt.Client, state: dict) -> None:
        """The publishes of :meth:`publish_state`."""
        raise NotImplementedError

    async def _publish_changed(self, client: aiomqtt.Client, topic: str, payload: str) -> None:
        """Publish ``payload`` on ``topic`` (retained, QoS 1) unless it is what was last published there."""
        if self._published.get(topic) != payload:
            await client.publish(topic, payload, qos=1, retain=True)
            self._published[topic] = payload

    async def close(self) -> None:
        """Say ``offline`` (retained) while still connected; then cancel the ``run`` task."""
        if self._client is not None:
            try:
                await self._client.publish(self.topics.status, "offline", qos=1, retain=True, timeout=2)
            except aiomqtt.MqttError:
                pass


class MqttService(SettingsBroker):
    """The runtime's MQTT connection; run :meth:`run` as a (supervised) task. Also a device link (``link = "mqtt"``).

    Incoming messages are bounded before anything reads them: payloads over
    ``mqtt.max_payload_bytes`` are refused, settings messages are rate-limited,
    retained settings messages are ignored (a command is acted on once, when sent),
    and no message can end the task: each rejected one gives one (rate-limited)
    log line and ``rejected`` event.
    """

    def __init__(
        self,
        cfg: RuntimeConfig,
        settings: SettingsController,
        store: StateStore,
        password: SecretStr | None = None,
        settings_token: SecretStr | None = None,
    ) -> None:
        assert cfg.mqtt is not None
        super().__init__(cfg.mqtt, store, password, settings_token, log)
        self.cfg = cfg
        self.settings = settings
        self._device: DeviceReading | None = None
        self._packs: dict[str, PackReading | None] = {p.id: None for p in cfg.packs}
        self._errors: dict[str, str] = {}
        self._seq = 0
        self._grid = False  # the device reports grid power: its entities are announced
        self._settings_changed: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._command_topics = {
            self.topics.setting_set("backup_reserve_pct"),
            self.topics.setting_set("strategy"),
            self.topics.settings_set,
        }
        self._invalid = ThrottledLog(log)  # log lines only: the settings controller logs the event
        settings.subscribe(self._on_settings_changed)

    async def run(self) -> None:
        """Connect, subscribe, handle messages; on a lost broker retry with exponential backoff. Cancel to stop."""
        rt = self.cfg.runtime
        backoff = rt.reconnect_min_s
        self._loop = asyncio.get_running_loop()
        self._settings_changed = asyncio.Event()
        while True:
            self._connecting()
            try:
                async with self.connection.client() as client:
                    await client.subscribe(
                        [(self.topics.device_telemetry, 0), (self.topics.pack_telemetry_filter, 0)]
                        + [(t, 1) for t in sorted(self._command_topics)]
                    )
                    await client.publish(self.topics.status, "online", qos=1, retain=True)
                    if self.mcfg.discovery:
                        await self._publish_discovery(client)
                    self._client = client
                    self._published.clear()
                    self.connects += 1
                    self.last_error = None
                    backoff = rt.reconnect_min_s
                    self.store.log("link", f"mqtt: connected to {self.mcfg.host}:{self.mcfg.port}")
                    await self._serve(client)
            except (aiomqtt.MqttError, OSError) as err:
                was = self._client is not None
                self._connection_ended()
                self.last_error = self.connection.describe(err)
                if was:
                    self.store.log("link", f"mqtt: connection lost: {err}")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2.0, rt.reconnect_max_s)
            finally:
                self._connection_ended()

    async def _serve(self, client: aiomqtt.Client) -> None:
        """Handle messages and republish settings when they change, until the connection ends."""
        assert self._settings_changed is not None
        self._settings_changed.set()  # publish the current settings once per connection
        publisher = asyncio.create_task(self._publish_settings_on_change(), name="mqtt-settings")
        try:
            async for message in client.messages:
                try:
                    self._handle(message)
                except Exception as err:  # noqa: BLE001 - no message may end the task
                    self.rejects.warning(
                        f"mqtt: {message.topic}: message not handled ({type(err).__name__}: {shorten(str(err))})"
                    )
        except (aiomqtt.MqttError, OSError):
            raise
        except BaseException:  # the task is dying (a bug, or cancelled): say so while the connection is still up
            with_timeout = asyncio.wait_for(client.publish(self.topics.status, "offline", qos=1, retain=True), 1.0)
            try:
                await with_timeout
            except Exception:  # noqa: BLE001
                pass
            raise
        finally:
            publisher.cancel()
            await asyncio.wait([publisher], timeout=1.0)

    def _on_settings_changed(self, _new: Settings) -> None:
        if self._loop is not None and self._settings_changed is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._settings_changed.set)

    async def _publish_settings_on_change(self) -> None:
        assert self._settings_changed is not None
        while True:
            await self._settings_changed.wait()
            self._settings_changed.clear()
            await self.publish_settings()

    def _handle(self, message: aiomqtt.Message) -> None:
        topic = message.topic
        payload = payload_bytes(message)
        if self._is_command(message):
            self._handle_setting(str(topic), payload)
            return
        now = time.monotonic()
        try:
            if topic.matches(self.topics.pack_telemetry_filter):
                key = str(topic).split("/")[-2]
                if key not in self._packs:
                    return
                self._packs[key] = parse_pack_payload(payload, now, require_ts=message.retain)
            elif topic.matches(self.topics.device_telemetry):
                key = "device"
                self._device = parse_device_payload(payload, now, require_ts=message.retain)
            else:
                return
            self._errors.pop(key, None)
        except UndatedReading as err:  # the reading held so far stays
            self.rejects.warning(f"mqtt: {topic}: {err}: ignored")
        except ValueError as err:
            if key == "device":
                self._device = None
            else:
                self._packs[key] = None
            self._errors[key] = f"garbage: {err}"

    def _plain_patch(self, topic: str, text: str) -> object:
        if topic == self.topics.setting_set("strategy"):
            return {"strategy": text}
        try:
            value: object = float(text)
        except ValueError:
            value = text  # let validation name it
        return {"backup_reserve_pct": value if isinstance(value, float) and math.isfinite(value) else text}

    def _handle_setting(self, topic: str, payload: bytes) -> None:
        try:
            patch = self._settings_patch(topic, payload)
        except InputError as err:
            self.rejects.warning(f"mqtt: {err}")
            return
        try:
            self.settings.propose(patch, source="mqtt")
        except InputError as err:  # already in the event log as "rejected"
            self._invalid.warning(f"mqtt setting rejected: {shorten(str(err), 300)}")

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

    async def _send_state(self, client: aiomqtt.Client, state: dict) -> None:
        """The runtime state and, for Home Assistant, each entity's value (see :func:`discovery_messages`).

        Values that change every cycle (SOC, power) go out every cycle; the others (availability,
        online, fault, energy totals) when they change. Grid entities are announced once the
        state first carries grid energy.
        """
        await client.publish(self.topics.state, json.dumps(state), qos=0, retain=True)
        soc, power = state.get("soc_pct", {}), state.get("power_w", {})
        for pack_id, value in soc.items():
            await client.publish(self.topics.pack_soc(pack_id), f"{value:.1f}", qos=0, retain=True)
        for pack_id, value in power.items():
            await client.publish(self.topics.pack_power(pack_id), f"{value:.0f}", qos=0, retain=True)
        for topic, value in (
            (self.topics.battery_power, state.get("battery_power_w")),
            (self.topics.grid_power, state.get("grid_w")),
        ):
            if value is not None:
                await client.publish(topic, f"{value:.0f}", qos=0, retain=True)
        faults = state.get("faults", {})
        for p in self.cfg.packs:
            await self._publish_changed(
                client, self.topics.pack_availability(p.id), discovery.ONLINE if p.id in soc else discovery.OFFLINE
            )
            await self._publish_changed(client, self.topics.pack_online(p.id), discovery.ON if p.id in soc else discovery.OFF)
            await self._publish_changed(client, self.topics.pack_fault(p.id), discovery.ON if p.id in faults else discovery.OFF)
        energy = state.get("energy_kwh", {})
        if "grid_import" in energy and not self._grid and self.mcfg.discovery:
            self._grid = True
            await self._publish_discovery(client)
        for name, kwh in energy.items():
            await self._publish_changed(client, self.topics.energy(name), f"{kwh:.3f}")

    async def _publish_discovery(self, client: aiomqtt.Client) -> None:
        """Every Home Assistant discovery config (retained)."""
        for topic, payload in discovery_messages(self.cfg, self.topics, commands=self.settings_token is None, grid=self._grid):
            await client.publish(topic, json.dumps(payload), qos=1, retain=True)

    # --- device link -------------------------------------------------------------------------------

    async def read(self) -> Telemetry:
        """The latest telemetry received (with ``errors["link"]`` while the broker is unreachable)."""
        tel = Telemetry(device=self._device, packs=dict(self._packs), errors=dict(self._errors))
        if self._client is None:
            tel.errors["link"] = f"link: {self.last_error or 'mqtt broker not connected'}"
        return tel

    async def write(self, setpoints_w: dict[str, float], watchdog_s: int) -> bool:
        """Publish the setpoints (not retained: a restarted device must not act on old ones)."""
        if self._client is None:
            return False
        self._seq += 1
        body = {"seq": self._seq, "watchdog_s": watchdog_s, "packs": setpoints_w}
        try:
            await self._while_connected(self._client.publish(self.topics.setpoints, json.dumps(body), qos=0))
        except aiomqtt.MqttError:
            return False
        return True
