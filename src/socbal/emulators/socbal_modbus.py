"""socbal's own device over its Modbus register map (:class:`socbal.runtime.config.RegisterMap`, the default map)
as one device of an emulated home: each pack follows the setpoint written into its block, all fall back to 0 W
after the watchdog (register ``device.watchdog_s``, 10 s until written), with the home's faults: a drop-out refuses
and closes connections, ignored writes are answered and change nothing, frozen telemetry serves the registers as
they were when frozen."""

from __future__ import annotations

import functools

from pymodbus.constants import ExcCodes
from pymodbus.simulator.simdata import SimData
from pymodbus.simulator.simdevice import SimDevice
from pymodbus.simulator.simutils import DataType

from socbal.emulators.device import FirmwareDevice
from socbal.emulators.modbus import DeviceModbusServer


class SocbalModbusEmulator:
    """The device's registers (``device.packs.registers``, refreshed on each step) and faults; :meth:`server`
    serves them (every unit id, several connections)."""

    def __init__(self, device: FirmwareDevice) -> None:
        if device.dynamics.firmware != "per-pack":
            raise ValueError("socbal's own device takes per-pack setpoints: Dynamics(firmware='per-pack')")
        self.device = device
        self.refused_connections = 0
        self._frozen: list[int] | None = None

    def tick(self) -> None:
        """Keep (or let go of) the registers as they were when the telemetry froze."""
        frozen = self.device.faults.freeze_telemetry
        if frozen and self._frozen is None:
            self._frozen = list(self.device.packs.registers)
        elif not frozen:
            self._frozen = None

    async def _action(self, function_code, start_address, address, count, registers, set_values):
        live = self.device.packs.registers
        if address + count > len(live):
            return ExcCodes.ILLEGAL_ADDRESS
        if set_values is None:
            shown = self._frozen or live
            registers[address - start_address : address - start_address + count] = shown[address : address + count]
        elif not self.device.faults.ignore_writes:
            self.device.packs.write_registers(address, [int(v) for v in set_values])
            self.device.writes += 1
        return None

    def server(self, host: str, port: int) -> DeviceModbusServer:
        """A Modbus TCP server over the registers."""
        blocks = [SimData(0, count=len(self.device.packs.registers), values=0, datatype=DataType.REGISTERS)]
        sim = SimDevice(id=0, simdata=blocks, action=functools.partial(self._action))
        return DeviceModbusServer(self, False, sim, address=(host, port))
