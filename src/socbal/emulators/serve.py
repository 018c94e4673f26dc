"""``socbal emulate --protocol indevolt|zendure|marstek``: one scenario's device served over a vendor protocol,
with its vendor's default dynamics, and optionally the home's meter (``--meter``) serving the simulated grid power."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Literal

from socbal.emulators.device import Dynamics, FirmwareDevice
from socbal.emulators.http import serve_app
from socbal.emulators.indevolt import IndevoltEmulator
from socbal.emulators.marstek import MarstekEmulator, serve_marstek
from socbal.emulators.meters import MeterKind, meter_app
from socbal.emulators.zendure import ZendureEmulator
from socbal.scenario import Scenario

VendorProtocol = Literal["indevolt", "zendure", "marstek"]
DEFAULT_PORT = {"indevolt": 8080, "zendure": 80, "marstek": 502}
DEFAULT_MODEL = {"indevolt": "sf2000", "zendure": "solarflow-800", "marstek": "venus-e-v3"}
#: The device answers errors faster than this: Indevolt documents a 1 s minimum between requests.
MIN_REQUEST_INTERVAL_S = {"indevolt": 1.0, "zendure": 0.0, "marstek": 0.0, "socbal-modbus": 0.0, "socbal-mqtt": 0.0}


def vendor_emulator(protocol: VendorProtocol, device: FirmwareDevice, model: str | None = None, serial: str | None = None):
    """``device`` served as the vendor's device (``model``: default :data:`DEFAULT_MODEL`)."""
    model = model or DEFAULT_MODEL[protocol]
    if protocol == "indevolt":
        return IndevoltEmulator(device, model=model, serial=serial)
    if protocol == "zendure":
        return ZendureEmulator(device, model=model, serial=serial)
    return MarstekEmulator(device, model=model, frame_s=0.15)


def build(protocol: VendorProtocol, scenario: Scenario, model: str | None, serial: str | None, speed: float):
    """The vendor emulator over a firmware device with that vendor's default dynamics."""
    dynamics = Dynamics(min_request_interval_s=MIN_REQUEST_INTERVAL_S[protocol])
    return vendor_emulator(protocol, FirmwareDevice(scenario, dynamics, speed=speed), model, serial)


async def serve_vendor(
    emulator: IndevoltEmulator | ZendureEmulator | MarstekEmulator,
    stop: asyncio.Event,
    host: str,
    port: int,
    tick_s: float = 0.1,
    meter: MeterKind | None = None,
    meter_port: int | None = None,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Serve the emulator (and the meter, if any) until ``stop`` is set."""
    if isinstance(emulator, MarstekEmulator):
        device_run = serve_marstek(emulator, stop, host, port, tick_s, on_ready=on_ready)
    else:
        tick = emulator.tick if isinstance(emulator, ZendureEmulator) else None
        device_run = serve_app(emulator.app, stop, host, port, emulator.device, tick_s, on_tick=tick, on_ready=on_ready)
    runs = [device_run]
    if meter is not None:
        grid = emulator.device
        runs.append(serve_app(meter_app(meter, lambda: grid.snapshot().grid_w), stop, host, meter_port or 8000))
    await asyncio.gather(*runs)
