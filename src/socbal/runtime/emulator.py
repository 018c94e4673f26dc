"""An emulated device for ``socbal emulate``: a simulation scenario stepped in (scaled) real time,
served over Modbus TCP (the default register map) and MQTT (the topics of :mod:`socbal.runtime.mqtt`).

It runs no EMS of its own: each pack follows the setpoint the runtime wrote,
clamped to the pack's DC-DC limits, through :func:`socbal.device.physics.step_pack`,
and reports the SOC estimated by :func:`socbal.device.physics.estimator_step`.
Watchdog: without a setpoint for ``watchdog_s`` seconds (wall clock; the runtime
writes the timeout into the watchdog register or the setpoint message), or once
the runtime's last will says ``offline``, every pack falls back to setpoint 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable

import aiomqtt
import numpy as np
import pandas as pd
from pydantic import SecretStr

from socbal.device.main_unit import main_unit_supply_w
from socbal.device.params import device_model
from socbal.device.step import initial_state, step_packs, step_scratch
from socbal.errors import InputError
from socbal.profiles.grid import grid_profile
from socbal.profiles.holding import held_profile, value_at
from socbal.runtime.config import MqttConfig, RegisterMap, RegisterSpec
from socbal.runtime.modbus import decode, encode
from socbal.runtime.mqtt import Topics, payload_bytes
from socbal.runtime.mqtt_login import BrokerConnection
from socbal.runtime.payload import parse_json, shorten
from socbal.runtime.ratelimit import ThrottledLog
from socbal.runtime.supervise import Supervisor
from socbal.scenario import Scenario

log = logging.getLogger("socbal.runtime.emulator")
_rejects = ThrottledLog(log)


class EmulatedDevice:
    """The device's state and registers; :meth:`step` advances it by wall time ``dt_s`` times ``speed``."""

    def __init__(
        self, scenario: Scenario, reg_map: RegisterMap | None = None, speed: float = 1.0, watchdog_s: float = 10.0
    ) -> None:
        self.scenario = scenario
        self.map = reg_map or RegisterMap()
        self.speed = speed
        self.watchdog_s = watchdog_s
        packs = scenario.all_packs
        self.specs = packs
        self.ids = [p.id for p in packs]
        self.model = device_model(packs, scenario.device, scenario.settings)
        soc = np.array([p.soc_pct for p in packs])
        soc_est = np.clip(soc + np.array([p.soc_estimate_error_pct for p in packs]), 0.0, 100.0)
        self.state = initial_state(self.model, soc, soc_est)
        self.scratch = step_scratch(len(packs))
        n = len(packs)
        self.setpoint_w = np.zeros(n)
        self.power_w = np.zeros(n)
        self.counter = [0] * n
        self.silent: set[str] = set()
        self.offline: set[str] = set()
        self.last_setpoint_s: float | None = None
        self.runtime_offline = False
        self.watchdog_tripped = True  # no setpoint yet
        self.sim_time_s = 0.0
        run = scenario.run
        self.horizon_s = run.n_steps * run.step_s
        start = pd.Timestamp(run.start)
        self.load_w, self.load_step_s = held_profile(scenario.load.series(start, self.horizon_s), start, self.horizon_s, "load")
        self.pv_w, self.pv_step_s = held_profile(scenario.pv.series(start, self.horizon_s), start, self.horizon_s, "pv")
        self.grid, self.grid_step_s = grid_profile(scenario.grid, start, self.horizon_s, scenario.run.step_s)
        # Telemetry shows the scenario's first values from the start, before the first step.
        self.now_load_w = value_at(self.load_w, self.load_step_s, 0.0)
        self.now_pv_w = value_at(self.pv_w, self.pv_step_s, 0.0)
        self.now_grid = value_at(self.grid, self.grid_step_s, 0.0) > 0.5
        m = self.map
        size = max(max(s.address + s.width for _, s in m.device), m.pack_base + n * m.pack_stride) + 1
        self.registers = [0] * size
        self._refresh_registers()

    # --- state ---------------------------------------------------------------------------------------

    def limits_w(self) -> tuple[list[float], list[float]]:
        """The limits each pack reports, W: its DC-DC ratings, 0 in a direction its BMS has cut off."""
        dis = [0.0 if self.state.empty[i] else p.max_discharge_w for i, p in enumerate(self.specs)]
        chg = [0.0 if self.state.full[i] else p.max_charge_w for i, p in enumerate(self.specs)]
        return dis, chg

    def soc_pct(self) -> list[float]:
        """True SOC of each pack, %."""
        return [float(x) for x in self.state.soc_true_pct]

    def soc_estimated_pct(self) -> list[float]:
        """SOC each pack's BMS reports, %."""
        return [float(x) for x in self.state.soc_est_pct]

    def grid_w(self) -> float:
        """The device's grid power now, W (+ import): its load - PV - the packs' power."""
        return float(self.now_load_w - self.now_pv_w - self.power_w.sum())

    def accept_setpoints(self, setpoints: dict[int, float], watchdog_s: float | None = None) -> None:
        """New setpoints from the runtime (pack index -> W); resets the watchdog."""
        for i, w in setpoints.items():
            if 0 <= i < len(self.ids):
                self.setpoint_w[i] = float(w) if np.isfinite(w) else 0.0
        if watchdog_s is not None and np.isfinite(watchdog_s) and watchdog_s > 0:
            self.watchdog_s = float(watchdog_s)
        self.last_setpoint_s = time.monotonic()
        self.runtime_offline = False

    def effective_setpoints(self, now_s: float) -> np.ndarray:
        """Setpoints in force: 0 everywhere once the watchdog tripped or the runtime went offline."""
        expired = self.last_setpoint_s is None or now_s - self.last_setpoint_s > self.watchdog_s
        self.watchdog_tripped = expired or self.runtime_offline
        return np.zeros(len(self.ids)) if self.watchdog_tripped else self.setpoint_w.copy()

    def step(self, dt_s: float) -> None:
        """Advance by ``dt_s`` wall seconds (``dt_s * speed`` simulated)."""
        sim_dt = dt_s * self.speed
        if sim_dt <= 0.0:
            self._refresh_registers()
            return
        t = self.sim_time_s % self.horizon_s
        self.now_load_w = value_at(self.load_w, self.load_step_s, t)
        self.now_pv_w = value_at(self.pv_w, self.pv_step_s, t)
        self.now_grid = value_at(self.grid, self.grid_step_s, t) > 0.5
        sp = self.effective_setpoints(time.monotonic())
        d = self.scenario.device
        operating = bool(np.any(sp != 0.0)) or self.now_pv_w > 0.0
        # The runtime's setpoints include the main unit's bus draw (socbal.device.main_unit); deep standby and
        # a main unit that the packs do not feed draw from the main battery directly.
        from_grid, from_bus, from_battery = main_unit_supply_w(
            operating, self.now_grid, d.aux_power_module, d.active_w, d.standby_w
        )
        limits_dis, limits_chg = self.limits_w()
        for i in range(len(self.specs)):
            self.scratch.power_w[i] = min(max(sp[i], -limits_chg[i]), limits_dis[i])
        delivered_w = float(np.clip(self.scratch.power_w, 0.0, None).sum())
        from_battery += max(from_bus - delivered_w - self.now_pv_w, 0.0)
        step_packs(self.model, self.state, self.scratch, from_battery, sim_dt)
        self.power_w[:] = self.scratch.bus_w
        for i, p in enumerate(self.specs):
            if p.id not in self.silent:
                self.counter[i] = (self.counter[i] + 1) & 0xFFFF
        self.sim_time_s += sim_dt
        self._refresh_registers()

    # --- Modbus registers ----------------------------------------------------------------------------

    def _put(self, address: int, spec: RegisterSpec, value: float) -> None:
        words = encode(value, spec, self.map.word_order)
        self.registers[address : address + len(words)] = words

    def _get(self, address: int, spec: RegisterSpec) -> float:
        return decode(self.registers[address : address + spec.width], spec, self.map.word_order)

    def _refresh_registers(self) -> None:
        m = self.map
        self._put(m.device.pv_w.address, m.device.pv_w, self.now_pv_w)
        self._put(m.device.load_w.address, m.device.load_w, self.now_load_w)
        self._put(m.device.grid_on.address, m.device.grid_on, 1.0 if self.now_grid else 0.0)
        est = self.soc_estimated_pct()
        limits_dis, limits_chg = self.limits_w()
        for i, p in enumerate(self.specs):
            if p.id in self.silent:
                continue
            pk = m.pack
            self._put(m.pack_address(i, pk.soc_pct), pk.soc_pct, est[i])
            self._put(m.pack_address(i, pk.power_w), pk.power_w, self.power_w[i])
            self._put(m.pack_address(i, pk.max_discharge_w), pk.max_discharge_w, limits_dis[i])
            self._put(m.pack_address(i, pk.max_charge_w), pk.max_charge_w, limits_chg[i])
            self._put(m.pack_address(i, pk.online), pk.online, 0.0 if p.id in self.offline else 1.0)
            self._put(m.pack_address(i, pk.counter), pk.counter, self.counter[i])

    def write_registers(self, address: int, values: list[int]) -> None:
        """A Modbus write: store it; a write touching a setpoint or the watchdog register feeds the watchdog."""
        end = address + len(values)
        if end > len(self.registers):
            raise IndexError(f"write beyond the register map: {address}+{len(values)}")
        self.registers[address:end] = [int(v) & 0xFFFF for v in values]
        m = self.map
        wd = m.device.watchdog_s
        touched = {}
        for i in range(len(self.ids)):
            a = m.pack_address(i, m.pack.setpoint_w)
            if a < end and address < a + m.pack.setpoint_w.width:
                touched[i] = self._get(a, m.pack.setpoint_w)
        hit_wd = wd.address < end and address < wd.address + wd.width
        if touched or hit_wd:
            self.accept_setpoints(touched, self._get(wd.address, wd) if hit_wd else None)

    def telemetry_messages(self, topics: Topics) -> list[tuple[str, dict]]:
        """MQTT telemetry (topic, payload) for the device and every pack not silent."""
        out = [(topics.device_telemetry, {"pv_w": self.now_pv_w, "load_w": self.now_load_w, "grid_on": self.now_grid})]
        est = self.soc_estimated_pct()
        limits_dis, limits_chg = self.limits_w()
        for i, p in enumerate(self.specs):
            if p.id in self.silent:
                continue
            out.append(
                (
                    topics.pack_telemetry(p.id),
                    {
                        "soc_pct": round(est[i], 3),
                        "power_w": round(float(self.power_w[i]), 2),
                        "max_discharge_w": limits_dis[i],
                        "max_charge_w": limits_chg[i],
                        "online": p.id not in self.offline,
                    },
                )
            )
        return out

    def handle_setpoint_message(self, payload: bytes) -> bool:
        """A setpoints message from the runtime; garbage is ignored (the watchdog keeps counting). True when accepted."""
        try:
            data = parse_json(payload)
            if not isinstance(data, dict) or not isinstance(data.get("packs"), dict):
                raise ValueError("not an object with a packs object")
            setpoints = {self.ids.index(k): _number(v) for k, v in data["packs"].items() if k in self.ids}
            watchdog = data.get("watchdog_s")
            self.accept_setpoints(setpoints, _number(watchdog) if watchdog is not None else None)
        except ValueError as err:
            _rejects.warning(f"emulator: ignoring a malformed setpoints message ({err})")
            return False
        return True


def _number(value: object) -> float:
    """A JSON number as float; ``ValueError`` for anything else (booleans included)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"not a number: {shorten(value)}")
    return float(value)


async def _modbus_action(device: EmulatedDevice, function_code, start_address, address, count, registers, set_values):
    """pymodbus SimDevice hook: serve reads from and route writes to the emulated device."""
    if address + count > len(device.registers):
        from pymodbus.constants import ExcCodes

        return ExcCodes.ILLEGAL_ADDRESS
    if set_values is None:
        registers[address - start_address : address - start_address + count] = device.registers[address : address + count]
    else:
        device.write_registers(address, [int(v) for v in set_values])
    return None


def modbus_server(device: EmulatedDevice, host: str, port: int, device_id: int = 0):
    """A pymodbus TCP server over the device's registers (``device_id`` 0 answers every unit id)."""
    import functools

    from pymodbus.server import ModbusTcpServer
    from pymodbus.simulator.simdata import SimData
    from pymodbus.simulator.simdevice import SimDevice
    from pymodbus.simulator.simutils import DataType

    sim = SimDevice(
        id=device_id,
        simdata=[SimData(0, count=len(device.registers), values=0, datatype=DataType.REGISTERS)],
        action=functools.partial(_modbus_action, device),
    )
    return ModbusTcpServer(sim, address=(host, port))


class MqttEndpoint:
    """The device's side of socbal's MQTT schema on one broker connection: ``online`` (retained) on
    ``<base>/device/status`` with ``offline`` as its last will, setpoints taken from ``<base>/device/setpoints``, the
    runtime's last will on ``<base>/runtime/status``, telemetry published by :meth:`publish`. ``reachable``
    (default: always) takes the device off the broker while it is False: ``offline`` on its status, as the broker
    would send its last will, no setpoint taken, nothing published; ``accepts`` (called for each setpoints message)
    False drops it. :meth:`run` connects and reconnects until cancelled; a broker refusing the login or TLS ends it with
    :attr:`refused` (one line, the fields named after ``where``, the config section) and an :class:`InputError`, as
    no retry can help; :meth:`close` says ``offline`` first."""

    def __init__(
        self,
        device: EmulatedDevice,
        cfg: MqttConfig,
        password: SecretStr | None = None,
        reachable: Callable[[], bool] = lambda: True,
        accepts: Callable[[], bool] = lambda: True,
        where: str = "mqtt",
    ) -> None:
        self.device = device
        self.cfg = cfg
        self.where = where
        self.refused: str | None = None
        self.topics = Topics(cfg.base_topic)
        self.reachable = reachable
        self.accepts = accepts
        will = aiomqtt.Will(self.topics.device_status, "offline", qos=1, retain=True)
        self.connection = BrokerConnection(cfg, password, cfg.client_id, will)
        self.client: aiomqtt.Client | None = None
        self.connects = 0

    async def run(self) -> None:
        """Stay connected while the device is reachable, reconnecting with exponential backoff; cancel to stop."""
        backoff = 0.5
        while True:
            if not self.reachable():
                await asyncio.sleep(0.05)
                continue
            try:
                async with self.connection.client() as client:
                    await client.subscribe([(self.topics.setpoints, 0), (self.topics.status, 1)])
                    await client.publish(self.topics.device_status, "online", qos=1, retain=True)
                    self.client, backoff = client, 0.5
                    self.connects += 1
                    await self._take_messages(client)
                    self.client = None  # away: say so as the last will would, then hang up
                    await client.publish(self.topics.device_status, "offline", qos=1, retain=True)
            except (aiomqtt.MqttError, OSError) as err:
                self.client = None
                refused = self.connection.refusal(err)
                if refused is not None:
                    self.refused = f"{self.where}: {refused}"
                    raise InputError(self.refused) from None
                _rejects.warning(f"emulator: {self.connection.describe(err)}; retrying in {backoff:g} s")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2.0, 10.0)
            finally:
                self.client = None

    async def close(self) -> None:
        """Say ``offline`` (retained) on the device's status while still connected: the device stops serving."""
        client = self.client
        if client is not None:
            with contextlib.suppress(aiomqtt.MqttError):
                await client.publish(self.topics.device_status, "offline", qos=1, retain=True, timeout=2.0)

    async def _take_messages(self, client: aiomqtt.Client) -> None:
        """Handle messages until the device becomes unreachable (return) or the connection fails (MqttError)."""
        reader = asyncio.create_task(self._read(client))
        try:
            while self.reachable() and not reader.done():
                await asyncio.wait([reader], timeout=0.05)
            if reader.done():
                reader.result()
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await reader

    async def _read(self, client: aiomqtt.Client) -> None:
        async for msg in client.messages:
            try:
                self._handle(msg)
            except Exception as err:  # noqa: BLE001 - no message may end the task
                _rejects.warning(f"emulator: {msg.topic}: message not handled ({type(err).__name__})")

    def _handle(self, msg: aiomqtt.Message) -> None:
        payload = payload_bytes(msg)
        if msg.topic.matches(self.topics.setpoints):
            if msg.retain:  # setpoints act once, when sent
                _rejects.warning("emulator: ignoring a retained setpoints message")
            elif self.accepts():
                self.device.handle_setpoint_message(payload)
        elif msg.topic.matches(self.topics.status) and payload.strip() == b"offline":
            self.device.runtime_offline = True  # the runtime's last will: fall back to 0 at once

    async def publish(self, messages: list[tuple[str, dict]]) -> None:
        """Publish telemetry (topic, payload) at QoS 0 while connected; a lost broker drops it."""
        client = self.client
        if client is None:
            return
        with contextlib.suppress(aiomqtt.MqttError):
            for topic, payload in messages:
                await client.publish(topic, json.dumps(payload), qos=0)

    def telemetry(self) -> list[tuple[str, dict]]:
        """The device's telemetry now, each payload dated (``ts``, Unix s)."""
        wall_s = round(time.time(), 3)
        return [(topic, {**payload, "ts": wall_s}) for topic, payload in self.device.telemetry_messages(self.topics)]


async def ticks(stop: asyncio.Event, tick_s: float) -> AsyncIterator[float]:
    """Every ``tick_s`` wall seconds until ``stop`` is set: the wall seconds since the previous tick."""
    loop = asyncio.get_running_loop()
    last = loop.time()
    while not stop.is_set():
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=tick_s)
        now = loop.time()
        yield now - last
        last = now


async def serve(
    device: EmulatedDevice,
    stop: asyncio.Event,
    host: str = "127.0.0.1",
    modbus_port: int | None = 5020,
    mqtt: MqttConfig | None = None,
    mqtt_password=None,
    tick_s: float = 0.2,
    on_ready=None,
) -> None:
    """Step the device every ``tick_s`` wall seconds and serve it until ``stop`` is set."""
    server = None
    endpoint = MqttEndpoint(device, mqtt, mqtt_password) if mqtt is not None else None
    supervisor = Supervisor()
    try:
        if modbus_port is not None:
            server = modbus_server(device, host, modbus_port)
            try:
                await server.serve_forever(background=True)
            except RuntimeError:
                raise OSError(f"cannot listen for Modbus TCP on {host}:{modbus_port} (port in use?)") from None
        if endpoint is not None:
            supervisor.start("mqtt", endpoint.run)
        if on_ready is not None:
            on_ready()
        async for dt_s in ticks(stop, tick_s):
            device.step(dt_s)
            if endpoint is not None:
                if endpoint.refused is not None:
                    raise InputError(endpoint.refused)
                await endpoint.publish(endpoint.telemetry())
    finally:
        if server is not None:
            with contextlib.suppress(Exception):
                await server.shutdown()
        if endpoint is not None:
            await endpoint.close()
        await supervisor.stop()
