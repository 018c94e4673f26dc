"""A pytest plugin that stalls every event loop started by ``asyncio.run`` now and then, as a process descheduled on a
loaded machine is stalled: ``python -m pytest -p tests.stall tests/homectl``. A test that passes only on a machine
with time to spare fails here: a window shorter than a stall, a fixed sleep that expects a tick to have run, a value
read late and compared with one read at another moment. ``SOCBAL_STALL_MAX_S`` (default 0.3) is the longest stall, s;
one comes every 0.05-0.3 s."""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Coroutine
from typing import Any

STALL_MAX_S = float(os.environ.get("SOCBAL_STALL_MAX_S", "0.3"))
_plain_run = asyncio.run


async def _stall_now_and_then() -> None:
    while True:
        await asyncio.sleep(random.uniform(0.05, 0.3))
        time.sleep(random.uniform(0.0, STALL_MAX_S))  # blocks the loop: nothing else in it runs meanwhile


def _stalled_run(main: Coroutine[Any, Any, Any], **kwargs: Any) -> Any:
    async def with_stalls() -> Any:
        staller = asyncio.create_task(_stall_now_and_then())
        try:
            return await main
        finally:
            staller.cancel()

    return _plain_run(with_stalls(), **kwargs)


asyncio.run = _stalled_run  # type: ignore[assignment]
