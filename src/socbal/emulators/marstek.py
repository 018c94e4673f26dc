"""A Marstek Venus over Modbus TCP: the model's holding registers (from :data:`socbal.drivers.marstek_modbus.MAPS`),
RS485 control with its keep-alive, and one TCP connection at a time.

42000 accepts 0x55AA (control on; each write refreshes the keep-alive) and
0x55BB (off: back to the work mode in 43000, anti-feed covering the load by
default); any other value answers exception 3. Without a refresh for
``keepalive_timeout_s`` the unit drops to standby. The other 42xxx registers
answer exception 2 while control is off, and the telemetry registers are read
only (both this emulator's choice; unverified). A second connection is closed at
once; each frame takes ``frame_s``. The firmware does not discharge the battery below
``min_soc_pct`` (11 %), nor a pack below the scenario's reserve; ``venus-d`` stops the
whole battery when its first pack reaches the reserve.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable

from pymodbus.client import ModbusTcpClient
from pymodbus.constants import ExcCodes
from pymodbus.simulator.simdata import SimData
from pymodbus.simulator.simdevice import SimDevice
from pymodbus.simulator.simutils import DataType

from socbal.drivers import marstek_modbus as mk
from socbal.emulators.device import FirmwareDevice, run_device
from socbal.emulators.modbus import DeviceModbusServer, listen_modbus, modbus_tick

WORK_MODE = 43000
ANTI_FEED = 1
#: Register blocks the emulator serves (start, count); an address outside them answers exception 2.
BLOCKS = ((30000, 400), (32100, 210), (34000, 600), (35000, 120), (42000, 30), (43000, 10), (44000, 10))
CONTROL_BLOCK = range(42001, 42030)
WRITABLE = {mk.RS485_CONTROL, mk.FORCE_MODE, mk.CHARGE_POWER, mk.DISCHARGE_POWER, WORK_MODE, mk.MAX_CHARGE, mk.MAX_DISCHARGE}


class MarstekEmulator:
    """The Venus's registers and control state; :meth:`server` serves them."""

    def __init__(
        self,
        device: FirmwareDevice,
        model: str = "venus-e-v3",
        keepalive_timeout_s: float = 100.0,
        frame_s: float = 0.0,
        min_soc_pct: float = 11.0,
    ) -> None:
        self.device = device
        self.map = mk.MAPS[model]
        self.keepalive_timeout_s = keepalive_timeout_s
        self.frame_s = frame_s
        self.min_soc_pct = min_soc_pct
        self.regs: dict[int, int] = {
            mk.RS485_CONTROL: mk.CONTROL_OFF,
            WORK_MODE: ANTI_FEED,
            mk.MAX_CHARGE: int(min(self.map.max_power_w, device.max_charge_w)),
            mk.MAX_DISCHARGE: int(min(self.map.max_power_w, device.max_discharge_w)),
        }
        self.keepalive_at_s = -1e9
        self.keepalive_lapses = 0
        self.refused_connections = 0
        self.writes: list[tuple[int, int]] = []
        if model == "venus-d":
            device.dynamics = device.dynamics.model_copy(update={"firmware": "stop-at-first-cutoff"})
        device.guard = self._guard
        self._refresh()

    @property
    def controlled(self) -> bool:
        """RS485 control is on."""
        return self.regs[mk.RS485_CONTROL] == mk.CONTROL_ON

    def _guard(self, target_w: float) -> float:
        if not self.controlled:
            return self.device.self_consumption_w() if self.regs[WORK_MODE] != 0 else 0.0
        if target_w > 0 and self.device.snapshot().soc_pct <= self.min_soc_pct:
            return 0.0
        return target_w

    def _command(self) -> None:
        r = self.regs
        mode = r.get(mk.FORCE_MODE, mk.FORCE_STANDBY)
        value = {mk.FORCE_CHARGE: -r.get(mk.CHARGE_POWER, 0), mk.FORCE_DISCHARGE: r.get(mk.DISCHARGE_POWER, 0)}.get(mode, 0)
        self.device.command(value)

    def write(self, address: int, value: int) -> ExcCodes | None:
        """One register write (function 6); an exception code where the unit refuses it."""
        if address not in WRITABLE:
            return ExcCodes.ILLEGAL_ADDRESS
        if address == mk.RS485_CONTROL:
            if value not in (mk.CONTROL_ON, mk.CONTROL_OFF):
                return ExcCodes.ILLEGAL_VALUE
        elif address in CONTROL_BLOCK and not self.controlled:
            return ExcCodes.ILLEGAL_ADDRESS
        elif address == mk.FORCE_MODE and value not in (0, 1, 2):
            return ExcCodes.ILLEGAL_VALUE
        elif address in (mk.CHARGE_POWER, mk.DISCHARGE_POWER, mk.MAX_CHARGE, mk.MAX_DISCHARGE) and value > self.map.max_power_w:
            return ExcCodes.ILLEGAL_VALUE
        self.writes.append((address, value))
        if self.device.faults.ignore_writes:
            return None
        self.regs[address] = value
        if address == mk.RS485_CONTROL and value == mk.CONTROL_ON:
            self.keepalive_at_s = self.device.clock()
        if address in (mk.FORCE_MODE, mk.CHARGE_POWER, mk.DISCHARGE_POWER, mk.RS485_CONTROL):
            self._command()
        return None

    def _put(self, value: mk.Value, number: float) -> None:
        raw = round(number / value.scale)
        if value.kind == "uint16":
            raw = min(max(raw, 0), 0xFFFF)
        words = ModbusTcpClient.convert_to_registers(raw, value.datatype, word_order="big")
        for k, w in enumerate(words):
            self.regs[value.address + k] = w

    def _refresh(self) -> None:
        snap = self.device.snapshot()
        self._put(self.map.soc_pct, snap.soc_pct)
        self._put(self.map.battery_power_w, snap.battery_power_w)
        ac = mk.Value(32202, "int32") if self.map.battery_power_w.kind == "int32" else mk.Value(30006, "int16")
        self._put(ac, snap.battery_power_w)
        for v, soc in zip(self.map.pack_soc_pct, snap.pack_soc_pct, strict=False):
            self._put(v, soc)
        power = snap.battery_power_w
        self.regs[mk.INVERTER_STATE] = 3 if power > 0.5 else 2 if power < -0.5 else 1

    def tick(self) -> None:
        """Keep-alive check and fresh telemetry registers."""
        now = self.device.clock()
        if self.controlled and now - self.keepalive_at_s > self.keepalive_timeout_s:
            self.regs[mk.RS485_CONTROL] = mk.CONTROL_OFF
            self.regs[mk.FORCE_MODE] = mk.FORCE_STANDBY
            self.regs[WORK_MODE] = 0  # standby, not the unit's own mode
            self.keepalive_lapses += 1
            self.device.set_command(0.0)
        self._refresh()

    async def _action(self, function_code, start_address, address, count, registers, set_values):
        if self.frame_s:
            await asyncio.sleep(self.frame_s)
        if not self.device.request_allowed():
            return ExcCodes.DEVICE_BUSY
        if set_values is None:
            registers[address - start_address : address - start_address + count] = [
                self.regs.get(a, 0) for a in range(address, address + count)
            ]
            return None
        for k, v in enumerate(set_values):
            code = self.write(address + k, int(v))
            if code is not None:
                return code
        return None

    def server(self, host: str, port: int) -> DeviceModbusServer:
        """A Modbus TCP server that takes one connection at a time (answers every unit id)."""
        blocks = [SimData(start, count=count, values=0, datatype=DataType.REGISTERS) for start, count in BLOCKS]
        sim = SimDevice(id=0, simdata=blocks, action=functools.partial(self._action))
        return DeviceModbusServer(self, True, sim, address=(host, port))


async def serve_marstek(
    emulator: MarstekEmulator,
    stop: asyncio.Event,
    host: str,
    port: int,
    tick_s: float = 0.1,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Serve the Venus on ``host:port`` and step its device until ``stop`` is set."""
    server = await listen_modbus(emulator, host, port)
    try:
        if on_ready is not None:
            on_ready()
        await run_device(emulator.device, stop, tick_s, lambda: modbus_tick(emulator, server))
    finally:
        await server.shutdown()
