"""An emulated home (``socbal emulate HOME.toml``): every device of a home scenario served over its own vendor
protocol and port, all stepped by one clock, the home's household load, and a smart meter serving the home's grid.

Each ``[[devices]]`` entry with ``protocol`` / ``port`` becomes a :class:`~socbal.emulators.device.FirmwareDevice`
(its packs, its PV, its ``actuator_latency_s`` / ``ramp_w_per_s``, its ``firmware`` mapped onto
:class:`~socbal.emulators.device.Dynamics`, its AC output limit) behind that vendor's emulator. The home's grid
is ``load - sum of the devices' AC output`` (W, + import); the meter shows it as the scenario's ``[meter]``
says: a new reading every ``period_s``, ``latency_s`` old, none in its ``outages``. ``protocol = "socbal-modbus"``
and ``"socbal-mqtt"`` are socbal's own device over its register map (:mod:`.socbal_modbus`) or its MQTT schema on
the entry's ``[devices.mqtt]`` broker and base topic (:mod:`.socbal_mqtt`): per-pack setpoints with their watchdog,
each pack following after the entry's latency and at its ramp (the controller's driver is its firmware). A device
in its own automatic mode (Indevolt self-consumption, Marstek not under RS485 control) regulates that grid to
zero, each taking ``grid / n`` of it (n devices in the home). Dynamics, rate limits, faults and the meter period
run on the wall clock; ``speed`` makes the profiles and the pack physics run that many times faster.

Use from a test (``tests/emulators/home_harness.py`` does this on free ports, in a background thread)::

    home = EmulatedHome(home_scenario_from_dict(raw))   # ports from the scenario
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve_home(home, stop, meter="shelly-pro-3em", meter_port=port, on_ready=ready.set))
    await ready.wait()
    home.devices["unit1"].drop_out(30)                   # faults: .faults.ignore_writes, .faults.freeze_telemetry
    home.grid_w(), home.meter_w(), home.snapshot()       # the truth, what the meter shows, everything
    stop.set(); await task
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import get_args

import pandas as pd

from socbal.emulators.device import Dynamics, FirmwareDevice, Snapshot
from socbal.emulators.http import serve_app
from socbal.emulators.indevolt import IndevoltEmulator
from socbal.emulators.marstek import MarstekEmulator
from socbal.emulators.meters import MeterKind, meter_app
from socbal.emulators.modbus import DeviceModbusServer, listen_modbus
from socbal.emulators.serve import MIN_REQUEST_INTERVAL_S, vendor_emulator
from socbal.emulators.socbal_modbus import SocbalModbusEmulator
from socbal.emulators.socbal_mqtt import SocbalMqttEmulator
from socbal.emulators.zendure import ZendureEmulator
from socbal.errors import InputError
from socbal.home.scenario import PER_PACK_PROTOCOLS, HomeDeviceSpec, HomeScenario, ProtocolName
from socbal.profiles.holding import held_profile, value_at
from socbal.runtime.emulator import ticks

VendorEmulator = IndevoltEmulator | ZendureEmulator | MarstekEmulator | SocbalModbusEmulator | SocbalMqttEmulator
ModbusEmulator = MarstekEmulator | SocbalModbusEmulator
#: The home scenario's vendor firmware models as the emulated firmware runs them (others: socbal's EMS strategy).
FIRMWARE = {"stop-at-first-empty": "stop-at-first-cutoff", "reserve-on-average": "reserve-on-average"}


@dataclass(frozen=True)
class HomeSnapshot:
    """The home now (W; battery and AC output + discharge, grid + import)."""

    load_w: float
    grid_w: float  # load - sum of AC output, now
    meter_w: float  # what the meter shows now (held, latency old)
    ac_output_w: dict[str, float]  # device id -> battery + PV
    devices: dict[str, Snapshot]  # device id -> its true state (not its possibly frozen telemetry)


def device_dynamics(spec: HomeDeviceSpec) -> Dynamics:
    """The emulated dynamics of a home's device: its latency, ramp and firmware, its vendor's request limit."""
    assert spec.protocol is not None
    firmware = "per-pack" if spec.protocol in PER_PACK_PROTOCOLS else FIRMWARE.get(spec.firmware, "balance")
    return Dynamics(
        latency_s=spec.actuator_latency_s,
        ramp_w_per_s=spec.ramp_w_per_s,
        min_request_interval_s=MIN_REQUEST_INTERVAL_S[spec.protocol],
        firmware=firmware,  # type: ignore[arg-type]
    )


class EmulatedHome:
    """A home scenario's devices, load and meter on one clock; :meth:`step` advances them all (see the module)."""

    def __init__(self, scenario: HomeScenario, speed: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        unserved = [d.id for d in scenario.devices if d.protocol is None]
        if unserved:
            raise InputError(
                f"devices: {', '.join(repr(i) for i in unserved)} has no protocol: "
                f"to emulate a home give each [[devices]] entry a protocol ({', '.join(get_args(ProtocolName))}) "
                "and its port (socbal-mqtt: its [devices.mqtt] broker and base topic)"
            )
        self.scenario = scenario
        self.speed = speed
        self.clock = clock
        self.devices: dict[str, FirmwareDevice] = {}
        self.emulators: dict[str, VendorEmulator] = {}
        self.ports: dict[str, int] = {}
        self.protocols: dict[str, str] = {}
        self.brokers: dict[str, SocbalMqttEmulator] = {}  # the socbal-mqtt devices (served on a broker, not a port)
        run = scenario.run
        start = pd.Timestamp(run.start)
        self.horizon_s = run.n_steps * run.step_s
        self.load_profile_w, self.load_step_s = held_profile(
            scenario.load.series(start, self.horizon_s), start, self.horizon_s, "load"
        )
        self.sim_time_s = 0.0
        self.load_w = value_at(self.load_profile_w, self.load_step_s, 0.0)
        n = len(scenario.devices)
        for i, spec in enumerate(scenario.devices):
            assert spec.protocol is not None
            dev = FirmwareDevice(spec.one_device(scenario.run), device_dynamics(spec), speed=speed, clock=clock)
            dev.max_discharge_w = min(dev.max_discharge_w, spec.device.ac_output_limit_w)
            dev.net_demand_w = self._own_mode_demand(dev, n)
            dev.site_grid_w = self.grid_w  # e.g. Indevolt's meter point 11016
            self.devices[spec.id] = dev
            self.protocols[spec.id] = spec.protocol
            if spec.protocol == "socbal-mqtt":
                assert spec.mqtt is not None
                emulator = SocbalMqttEmulator(dev, spec.mqtt, f"socbal-emulator-{spec.id}", f"devices[{i}].mqtt")
                self.emulators[spec.id] = self.brokers[spec.id] = emulator
                continue
            assert spec.port is not None
            self.ports[spec.id] = spec.port
            if spec.protocol == "socbal-modbus":
                self.emulators[spec.id] = SocbalModbusEmulator(dev)
            else:
                self.emulators[spec.id] = vendor_emulator(spec.protocol, dev, spec.model, spec.serial)
        self._history: deque[tuple[float, float]] = deque([(clock(), self.grid_w())])
        self._reading_w = self.grid_w()
        self._read_at_s = clock()

    def addresses(self, host: str) -> list[str]:
        """Where each device is served: ``id protocol host:port``, or ``id socbal-mqtt broker:port base_topic``."""
        out = []
        for dev_id, protocol in self.protocols.items():
            if dev_id in self.brokers:
                b = self.brokers[dev_id].broker
                out.append(f"{dev_id} {protocol} {b.host}:{b.port} {b.base}")
            else:
                out.append(f"{dev_id} {protocol} {host}:{self.ports[dev_id]}")
        return out

    def _own_mode_demand(self, device: FirmwareDevice, n_devices: int) -> Callable[[], float]:
        """A device's own zero-export mode in this home: its battery power plus its share of the grid, W."""
        return lambda: float(device.packs.power_w.sum()) + self.grid_w() / n_devices

    def grid_w(self) -> float:
        """The home's grid power now, W (+ import / - export): load - the devices' AC output."""
        return float(self.load_w - sum(d.ac_output_w() for d in self.devices.values()))

    def meter_w(self) -> float:
        """What the meter shows now: the grid of ``meter.latency_s`` ago, taken every ``meter.period_s``, W."""
        return self._reading_w

    def meter_reading_w(self) -> float | None:
        """What the meter answers now, W: :meth:`meter_w`, or None in one of ``[meter].outages`` (simulated time)."""
        t = self.sim_time_s % self.horizon_s
        if any(o.start_s <= t < o.start_s + o.duration_s for o in self.scenario.meter.outages):
            return None
        return self._reading_w

    def step(self, dt_s: float) -> None:
        """Advance every device, the load and the meter by ``dt_s`` wall seconds."""
        t = self.sim_time_s % self.horizon_s
        self.load_w = value_at(self.load_profile_w, self.load_step_s, t)
        for dev in self.devices.values():
            dev.step(dt_s)
        for emu in self.emulators.values():
            if not isinstance(emu, IndevoltEmulator):
                emu.tick()
        self.sim_time_s += dt_s * self.speed
        now = self.clock()
        meter = self.scenario.meter
        self._history.append((now, self.grid_w()))
        while len(self._history) > 1 and self._history[1][0] <= now - meter.latency_s:
            self._history.popleft()
        if now - self._read_at_s >= meter.period_s:
            self._reading_w = self._history[0][1]
            self._read_at_s = now

    def snapshot(self) -> HomeSnapshot:
        """The home now."""
        return HomeSnapshot(
            load_w=float(self.load_w),
            grid_w=self.grid_w(),
            meter_w=self.meter_w(),
            ac_output_w={i: d.ac_output_w() for i, d in self.devices.items()},
            devices={i: d.true_state() for i, d in self.devices.items()},
        )


async def serve_home(
    home: EmulatedHome,
    stop: asyncio.Event,
    host: str = "127.0.0.1",
    meter: MeterKind | None = None,
    meter_port: int | None = None,
    tick_s: float = 0.1,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Serve every device of ``home`` on its port or broker (and the meter on ``meter_port``) and step the home
    every ``tick_s`` wall seconds until ``stop`` is set; ``on_ready`` runs once everything listens (a socbal-mqtt
    device connects to its broker in the background, reconnecting while it is away). OSError when a port is taken
    (whatever started is stopped again)."""
    if meter is not None:
        if meter_port is None:
            raise InputError("meter_port: missing: a meter needs its port")
        for dev_id, port in home.ports.items():
            if port == meter_port:
                raise InputError(f"meter_port: value {meter_port} is not allowed: already the port of device {dev_id!r}")
    halt = asyncio.Event()
    apps = [(e.app, home.ports[i]) for i, e in home.emulators.items() if isinstance(e, IndevoltEmulator | ZendureEmulator)]
    if meter is not None:
        assert meter_port is not None
        apps.append((meter_app(meter, home.meter_reading_w), meter_port))
    waiting = len(apps)
    started = asyncio.Event()

    def listening() -> None:
        nonlocal waiting
        waiting -= 1
        if waiting == 0:
            started.set()

    modbus: dict[str, DeviceModbusServer] = {}
    tasks: list[asyncio.Task] = []
    links: list[asyncio.Task] = []  # the socbal-mqtt devices' broker connections, started once the rest listens
    try:
        for dev_id, emu in home.emulators.items():
            if isinstance(emu, ModbusEmulator):
                modbus[dev_id] = await listen_modbus(emu, host, home.ports[dev_id])
        if not apps:
            started.set()
        tasks = [asyncio.create_task(serve_app(app, halt, host, port, on_ready=listening)) for app, port in apps]
        tasks.append(asyncio.create_task(_step_home(home, modbus, links, halt, started, tick_s, on_ready)))
        tasks.append(asyncio.create_task(stop.wait()))
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if (err := task.exception()) is not None:
                raise err
    finally:
        halt.set()
        for task in tasks[-2:]:  # the stepper and the stop watcher; the servers stop by themselves on halt
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for server in modbus.values():
            with contextlib.suppress(Exception):
                await server.shutdown()
        await asyncio.gather(*(e.endpoint.close() for e in home.brokers.values()))
        for link in links:
            link.cancel()
        await asyncio.gather(*links, return_exceptions=True)


async def _step_home(home, modbus, links, halt, started, tick_s, on_ready) -> None:
    """Wait until every server listens, say so, connect the socbal-mqtt devices (tasks into ``links``), then step the
    home until ``halt``."""
    await started.wait()
    if on_ready is not None:
        on_ready()
    links.extend(asyncio.create_task(e.endpoint.run(), name=f"mqtt:{i}") for i, e in home.brokers.items())
    async for dt_s in ticks(halt, tick_s):
        home.step(dt_s)
        for emu in home.brokers.values():
            if emu.endpoint.refused is not None:  # the broker refused its login: serving it cannot work
                raise InputError(emu.endpoint.refused)
            await emu.publish()
        for dev_id, server in modbus.items():
            if not home.devices[dev_id].online():
                server.drop_all()
