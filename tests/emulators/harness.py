"""Shared by the driver, emulator and meter tests: a small two-pack device and its emulators served on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from socbal.emulators.device import Dynamics, FirmwareDevice
from socbal.emulators.http import serve_app
from socbal.emulators.indevolt import IndevoltEmulator
from socbal.emulators.marstek import MarstekEmulator, serve_marstek
from socbal.emulators.zendure import ZendureEmulator
from socbal.scenario import Scenario, scenario_from_dict
from tests.runtime.conftest import LOOPBACK, free_port

#: Quick actuator: the tests see a command's effect within a few ticks.
FAST = Dynamics(latency_s=0.0, ramp_w_per_s=1e5)
TICK_S = 0.02


def two_packs(main_soc: float = 80.0, pack_soc: float = 40.0, load_w: float = 0.0, reserve_pct: float = 10.0) -> Scenario:
    """The spec's main unit + one pack (1920 Wh, 1200 W each), a constant load."""
    return scenario_from_dict(
        {
            "settings": {"backup_reserve_pct": reserve_pct},
            "main": {"id": "main", "capacity_wh": 1920, "soc_pct": main_soc},
            "packs": [{"id": "p1", "capacity_wh": 1920, "soc_pct": pack_soc}],
            "load": {"kind": "constant", "power_w": load_w},
        }
    )


def device(scenario: Scenario | None = None, dynamics: Dynamics = FAST, speed: float = 1.0) -> FirmwareDevice:
    """A firmware device over ``scenario`` (default :func:`two_packs`)."""
    return FirmwareDevice(scenario or two_packs(), dynamics, speed=speed)


@contextlib.asynccontextmanager
async def serving(emulator: IndevoltEmulator | ZendureEmulator | MarstekEmulator) -> AsyncIterator[int]:
    """Serve ``emulator`` on a free loopback port while the block runs; yields the port."""
    stop, ready = asyncio.Event(), asyncio.Event()
    port = free_port()
    if isinstance(emulator, MarstekEmulator):
        run = serve_marstek(emulator, stop, LOOPBACK, port, tick_s=TICK_S, on_ready=ready.set)
    else:
        tick = getattr(emulator, "tick", None)
        run = serve_app(emulator.app, stop, LOOPBACK, port, emulator.device, tick_s=TICK_S, on_tick=tick, on_ready=ready.set)
    task = asyncio.create_task(run)
    try:
        await asyncio.wait_for(ready.wait(), 10)
        yield port
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def until(condition, timeout_s: float = 5.0, poll_s: float = 0.02) -> None:
    """Wait until ``condition()`` holds; AssertionError after ``timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(poll_s)


class LoopLag:
    """How late this event loop woke while measured, s: the time a loaded machine took from the code under test.

    A ticker sleeps ``tick_s`` at a time and counts what each wake-up came later than ``grace_s`` past its time (a
    quiet machine's jitter is not counted). A wall-clock bound on the code under test adds :attr:`late_s`: the claim
    is about the time the code got to run, which a descheduled process or a busy thread holding the GIL does not give.
    """

    def __init__(self, tick_s: float = 0.01, grace_s: float = 0.005) -> None:
        self.tick_s, self.grace_s = tick_s, grace_s
        self.late_s = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _measure(self) -> None:
        while True:
            before_s = time.monotonic()
            await asyncio.sleep(self.tick_s)
            self.late_s += max(0.0, time.monotonic() - before_s - self.tick_s - self.grace_s)

    async def __aenter__(self) -> LoopLag:
        self._task = asyncio.create_task(self._measure())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@contextlib.asynccontextmanager
async def in_background(coro) -> AsyncIterator[None]:
    """Run ``coro`` as a task while the block runs; cancel it (and wait for it) afterwards."""
    task = asyncio.create_task(coro)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
