"""Shared by the meter and home-controller tests: an emulated meter served on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from fastapi import FastAPI

from socbal.emulators.http import serve_app
from socbal.emulators.meters import meter_app
from tests.runtime.conftest import LOOPBACK, free_port


@contextlib.asynccontextmanager
async def serving_meter(kind: str, grid: Callable[[], float]) -> AsyncIterator[tuple[FastAPI, int]]:
    """Serve a ``kind`` meter reporting ``grid()`` W on a free loopback port while the block runs; yields (app, port)."""
    app = meter_app(kind, grid)
    stop, ready = asyncio.Event(), asyncio.Event()
    port = free_port()
    task = asyncio.create_task(serve_app(app, stop, LOOPBACK, port, on_ready=ready.set))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        yield app, port
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
