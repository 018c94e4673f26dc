"""The small HTTP API (FastAPI): read status and settings, change settings with a token.

=================  ======  ============================================================
path               method  what
=================  ======  ============================================================
``/health``        GET     ``{"ok": true}``
``/status``        GET     last cycle: SOC, setpoints, faults, settings in force, task health
``/settings``      GET     settings in force after the next cycle
``/settings``      PATCH   partial change, e.g. ``{"backup_reserve_pct": 20}``; token
``/events``        GET     event log (``?after_id=&kind=&limit=``, oldest first); token
=================  ======  ============================================================

The token travels as ``Authorization: Bearer <token>`` and is checked before
the body is read (:mod:`.httpguard`); bodies are capped at ``http.max_body_bytes``
and an ``/events`` answer at ``http.max_response_bytes`` (page on with
``after_id`` = the last id). Without a configured token the API is read-only:
every write answers 403. Bad query parameters answer 422.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI, HTTPException, Query, Request
from pydantic import SecretStr

from socbal.runtime.config import HttpConfig
from socbal.runtime.httpguard import GuardMiddleware
from socbal.runtime.payload import parse_json
from socbal.runtime.settings import SettingsController
from socbal.runtime.store import EventKind, StateStore

#: Largest id SQLite can hold.
MAX_EVENT_ID = 2**63 - 1


def create_app(
    status: Callable[[], dict],
    settings: SettingsController,
    store: StateStore,
    token: SecretStr | None,
    limits: HttpConfig | None = None,
) -> FastAPI:
    """The API over a runtime's status function, settings controller and event log."""
    limits = limits or HttpConfig()
    app = FastAPI(title="socbal runtime", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(
        GuardMiddleware,
        token=token,
        max_body_bytes=limits.max_body_bytes,
        open_paths=frozenset({"/health", "/status", "/settings"}),
    )

    @app.get("/health")
    async def health() -> dict:
        return {"ok": True}

    @app.get("/status")
    async def get_status() -> dict:
        return status()

    @app.get("/settings")
    async def get_settings() -> dict:
        return settings.latest.model_dump()

    @app.patch("/settings")
    async def patch_settings(request: Request) -> dict:
        try:
            change = parse_json(await request.body(), limits.max_body_bytes)
            new = settings.propose(change, source="http")
        except ValueError as err:  # InputError included
            raise HTTPException(422, str(err)) from None
        return new.model_dump()

    @app.get("/events")
    def events(
        after_id: int = Query(0, ge=0, le=MAX_EVENT_ID),
        kind: EventKind | None = None,
        limit: int = Query(200, ge=1, le=10_000),
    ) -> list[dict]:
        return store.events(after_id=after_id, kind=kind, limit=limit, max_bytes=limits.max_response_bytes)

    return app


class ApiServer(uvicorn.Server):
    """uvicorn server that leaves signal handling to the runtime."""

    @contextlib.contextmanager
    def capture_signals(self):  # noqa: D102 - the runtime handles SIGINT/SIGTERM itself
        yield


def api_server(app: FastAPI, host: str, port: int, limits: HttpConfig | None = None) -> ApiServer:
    """An uvicorn server for ``app`` (start with ``await server.serve()``, stop with ``should_exit``)."""
    limits = limits or HttpConfig()
    return ApiServer(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            lifespan="off",
            access_log=False,
            limit_concurrency=limits.max_connections,
            h11_max_incomplete_event_size=16 * 1024,
        )
    )


class ApiTask:
    """The HTTP API of a live runtime as a supervised task: :meth:`serve` runs it, :meth:`wait_listening` learns its
    port (``http.port = 0`` picks a free one), :meth:`stop` ends it."""

    def __init__(self, app: FastAPI, http: HttpConfig) -> None:
        self.app = app
        self.http = http
        self.server: ApiServer | None = None
        self.port: int | None = None

    async def serve(self) -> None:
        """Serve until stopped (a fresh server each time the supervisor restarts it)."""
        self.server = api_server(self.app, self.http.host, self.http.port, self.http)
        await self.server.serve()

    async def wait_listening(self, timeout_s: float = 2.0) -> int | None:
        """The port once the server listens (None if it did not within ``timeout_s``)."""
        for _ in range(max(int(timeout_s / 0.02), 1)):
            server = self.server
            if server is not None and server.started:
                self.port = server.servers[0].sockets[0].getsockname()[1]
                return self.port
            await asyncio.sleep(0.02)
        return None

    async def stop(self, task: asyncio.Task | None, timeout_s: float = 5.0) -> None:
        """Ask the server to exit and wait for its task."""
        if self.server is not None and task is not None:
            self.server.should_exit = True
            await asyncio.wait([task], timeout=timeout_s)
