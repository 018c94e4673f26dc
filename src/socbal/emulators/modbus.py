"""What the Modbus TCP emulators share: a server for one emulated device that takes no connection while the device
is away (and closes those open), optionally only one connection at a time, and starting it in the background."""

from __future__ import annotations

from typing import Any, Protocol

from pymodbus.server import ModbusTcpServer
from pymodbus.server.requesthandler import ServerRequestHandler

from socbal.emulators.device import FirmwareDevice


class ModbusEmulator(Protocol):
    """An emulator served over Modbus TCP: its device, a refusal count, its server and its per-tick work."""

    device: FirmwareDevice
    refused_connections: int

    def server(self, host: str, port: int) -> DeviceModbusServer: ...

    def tick(self) -> None: ...


class _RefusedHandler(ServerRequestHandler):
    """A connection the unit does not take: closed as soon as it is made."""

    def callback_connected(self) -> None:
        self.close()


class DeviceModbusServer(ModbusTcpServer):
    """A pymodbus TCP server for ``emulator``: refuses connections while its device is away (and a second
    connection with ``single``), counting them in ``emulator.refused_connections``."""

    def __init__(self, emulator: ModbusEmulator, single: bool, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.emulator = emulator
        self.single = single

    def callback_new_connection(self):
        if (self.single and self.active_connections) or not self.emulator.device.online():
            self.emulator.refused_connections += 1
            return _RefusedHandler(self, self.trace_packet, self.trace_pdu, self.trace_connect)
        return super().callback_new_connection()

    def drop_all(self) -> None:
        """Close every connection (the unit went away)."""
        for conn in list(self.active_connections.values()):
            conn.close()


async def listen_modbus(emulator: ModbusEmulator, host: str, port: int) -> DeviceModbusServer:
    """Start serving ``emulator`` on ``host:port`` (in the background); shut it down with ``shutdown()``."""
    server = emulator.server(host, port)
    try:
        await server.serve_forever(background=True)
    except RuntimeError:
        raise OSError(f"cannot listen for Modbus TCP on {host}:{port} (port in use?)") from None
    return server


def modbus_tick(emulator: ModbusEmulator, server: DeviceModbusServer) -> None:
    """After each device step: the emulator's own work, and no connection while the unit is away."""
    emulator.tick()
    if not emulator.device.online():
        server.drop_all()
