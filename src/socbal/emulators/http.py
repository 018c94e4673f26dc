"""What the HTTP emulators share: drop-outs and rate limits as a middleware, and serving an app with its device."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from socbal.emulators.device import FirmwareDevice, run_device
from socbal.runtime.api import api_server


def too_soon(device: FirmwareDevice) -> Response | None:
    """503 when this request came sooner than the device's ``min_request_interval_s`` after the previous one."""
    return None if device.request_allowed() else JSONResponse({"error": "too many requests"}, status_code=503)


def add_drop_out(app: FastAPI, device: FirmwareDevice) -> None:
    """While the device drops out a request hangs until it is back (the client times out first), then 503."""

    @app.middleware("http")
    async def faults(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if not device.online():
            await asyncio.sleep(max(device.faults.dropout_until_s - device.clock(), 0.0))
            return JSONResponse({"error": "device was unreachable"}, status_code=503)
        return await call_next(request)


async def serve_app(
    app: FastAPI,
    stop: asyncio.Event,
    host: str,
    port: int,
    device: FirmwareDevice | None = None,
    tick_s: float = 0.1,
    on_tick: Callable[[], None] | None = None,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Serve ``app`` on ``host:port`` (and step ``device``, if any) until ``stop`` is set."""
    server = api_server(app, host, port)

    async def serve() -> None:
        try:
            await server.serve()
        except SystemExit:  # uvicorn exits when it cannot bind
            pass

    task = asyncio.create_task(serve())
    try:
        while not server.started:
            if task.done():
                raise OSError(f"cannot listen on {host}:{port} (port in use?)")
            await asyncio.sleep(0.02)
        if on_ready is not None:
            on_ready()
        if device is not None:
            await run_device(device, stop, tick_s, on_tick)
        else:
            await stop.wait()
    finally:
        server.should_exit = True
        await asyncio.wait([task], timeout=5)
