"""A small emulated home for the controller tests: vendor emulators on their own ports and a Shelly meter whose
grid power is the sum over the devices (load - PV - battery), all on 127.0.0.1, plus a config builder."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from socbal.emulators.indevolt import IndevoltEmulator
from socbal.emulators.marstek import MarstekEmulator
from socbal.emulators.zendure import ZendureEmulator
from socbal.homectl.config import HomeRunConfig, home_config_from_dict
from tests.emulators.harness import LOOPBACK, serving
from tests.meters.harness import serving_meter

Emulator = IndevoltEmulator | ZendureEmulator | MarstekEmulator
DRIVER = {IndevoltEmulator: "indevolt-http", ZendureEmulator: "zendure-http", MarstekEmulator: "marstek-modbus"}


def grid_w(emulators: list[Emulator]) -> float:
    """The home's grid power: every device's own load - PV - battery, summed, W."""
    return sum(e.device.snapshot().grid_w for e in emulators)


@contextlib.asynccontextmanager
async def home(emulators: list[Emulator], meter: Callable[[], float] | None = None) -> AsyncIterator[tuple[list[int], int]]:
    """Serve every emulator and a Shelly Pro 3EM (``meter``, default: the devices' summed grid power);
    yields (device ports, meter port)."""
    async with contextlib.AsyncExitStack() as stack:
        ports = [await stack.enter_async_context(serving(e)) for e in emulators]
        _, meter_port = await stack.enter_async_context(serving_meter("shelly-pro-3em", meter or (lambda: grid_w(emulators))))
        yield ports, meter_port


def device_entry(emulator: Emulator, port: int, device_id: str, **over) -> dict:
    """A ``[[devices]]`` entry for ``emulator`` on ``port`` with quick pacing and a short latency."""
    entry: dict = {"driver": DRIVER[type(emulator)], "id": device_id, "host": LOOPBACK, "port": port}
    entry.update(capacity_wh=float(emulator.device.capacity_wh.sum()), latency_s=0.3, timeout_s=1.0)
    entry["pacing"] = {"min_write_interval_s": 0.3}
    if isinstance(emulator, IndevoltEmulator):
        entry.update(packs=len(emulator.device.packs.ids) - 1, min_request_interval_s=0.0)
    elif isinstance(emulator, ZendureEmulator):
        entry.update(serial=emulator.serial, model=emulator.model, mode_change_interval_s=0.0)
    entry.update(over)
    return entry


def config(tmp_path: Path, devices: list[dict], meter_port: int, **sections) -> HomeRunConfig:
    """A home config over ``devices`` and the meter, quick periods, state in ``tmp_path``."""
    raw: dict = {
        "name": "testhome",
        "home": {"period_s": 0.3, "hold_s": 2.0, "follow_s": 0.5, **sections.pop("home", {})},
        "meter": {"kind": "shelly-pro-3em", "host": LOOPBACK, "port": meter_port, "period_s": 0.2, "stale_after_s": 2.0},
        "devices": devices,
        "store": {"path": str(tmp_path / "home.sqlite")},
    }
    raw.update(sections)
    return home_config_from_dict(raw, base_dir=tmp_path)


class MeterSwitch:
    """The meter's answer: the home's grid power, or an HTTP 500 while ``broken``."""

    def __init__(self, emulators: list[Emulator]) -> None:
        self.emulators = emulators
        self.broken = False

    def __call__(self) -> float:
        if self.broken:
            raise RuntimeError("meter switched off by the test")
        return grid_w(self.emulators)


@contextlib.asynccontextmanager
async def running(controller) -> AsyncIterator[None]:
    """Run ``controller`` while the block runs; stop it (bounded) afterwards."""
    stop = asyncio.Event()
    task = asyncio.create_task(controller.run(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)
