"""The test helper that measures how late the event loop ran (its figure widens wall-clock bounds, so it must count)."""

from __future__ import annotations

import asyncio
import time

from tests.emulators.harness import LoopLag


def test_a_blocked_loop_is_counted_late_by_about_the_time_it_was_blocked():
    async def scenario() -> float:
        async with LoopLag() as lag:
            await asyncio.sleep(0.05)
            time.sleep(0.3)  # blocks the loop, as a descheduled process or a thread holding the GIL does
            await asyncio.sleep(0.05)
        return lag.late_s

    late_s = asyncio.run(scenario())
    # at least the block, less the one tick and the grace it spans
    assert 0.3 - 0.01 - 0.005 - 1e-3 <= late_s
