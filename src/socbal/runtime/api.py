"""The small HTTP API (FastAPI): read status and settings, change settings with a token.

=================  ======  ============================================================
path               method  what
=================  ======  ============================================================
``/health``        GET     ``{"ok": true}``
``/status``        GET     last cycle: SOC, setpoints, faults, settings in force
``/settings``      GET     settings in force after the next cycle
``/settings``      PATCH   partial change, e.g. ``{"backup_reserve_pct": 20}``; token
``/events``        GET     event log (``?after_id=&kind=&limit=``); token
=================  ======  ============================================================

The token travels as ``Authorization: Bearer <token>``. Without a configured
token the API is read-only: every write answers 403.
"""

from __future__ import annotations

import contextlib
import hmac
from typing import TYPE_CHECKING

import uvicorn
from fastapi import Body, Depends, FastAPI, Header, HTTPException
from pydantic import SecretStr

from socbal.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from socbal.runtime.service import Runtime


def create_app(runtime: "Runtime", token: SecretStr | None) -> FastAPI:
    """The API over one runtime (its settings controller, store and status)."""
    app = FastAPI(title="socbal runtime", docs_url=None, redoc_url=None, openapi_url=None)

    def require_token(authorization: str | None = Header(None)) -> None:
        if token is None:
            raise HTTPException(403, "no API token is configured: the API is read-only")
        expected = f"Bearer {token.get_secret_value()}".encode()
        if authorization is None or not hmac.compare_digest(authorization.encode(), expected):
            raise HTTPException(401, "missing or wrong token", headers={"WWW-Authenticate": "Bearer"})

    @app.get("/health")
    async def health() -> dict:
        return {"ok": True}

    @app.get("/status")
    async def status() -> dict:
        return runtime.state()

    @app.get("/settings")
    async def get_settings() -> dict:
        return runtime.settings.latest.model_dump()

    @app.patch("/settings", dependencies=[Depends(require_token)])
    async def patch_settings(change: object = Body(...)) -> dict:
        try:
            new = runtime.settings.propose(change, source="http")
        except InputError as err:
            raise HTTPException(422, str(err)) from None
        if runtime.mqtt is not None:
            await runtime.mqtt.publish_settings()
        return new.model_dump()

    @app.get("/events", dependencies=[Depends(require_token)])
    async def events(after_id: int = 0, kind: str | None = None, limit: int = 200) -> list[dict]:
        return runtime.store.events(after_id=after_id, kind=kind, limit=min(max(limit, 1), 10000))

    return app


class ApiServer(uvicorn.Server):
    """uvicorn server that leaves signal handling to the runtime."""

    @contextlib.contextmanager
    def capture_signals(self):  # noqa: D102 - the runtime handles SIGINT/SIGTERM itself
        yield


def api_server(app: FastAPI, host: str, port: int) -> ApiServer:
    """An uvicorn server for ``app`` (start with ``await server.serve()``, stop with ``should_exit``)."""
    return ApiServer(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off", access_log=False))
