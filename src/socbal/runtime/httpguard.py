"""An ASGI guard in front of the HTTP API: the token is checked before any body is read, and bodies are capped.

Requests other than the open ones (``GET``/``HEAD`` of the paths given) need
``Authorization: Bearer <token>`` (401 otherwise; 403 when no token is configured);
a body over ``max_body_bytes`` answers 413, whether it says its length or not.
Only then does the application see the request, with the body already read.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from pydantic import SecretStr

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


async def _answer(send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *(headers or [])],
        }
    )
    await send({"type": "http.response.body", "body": body})


class GuardMiddleware:
    """Token first, then a bounded body (see the module docstring)."""

    def __init__(self, app: App, token: SecretStr | None, max_body_bytes: int, open_paths: frozenset[str]) -> None:
        self.app = app
        self.expected = f"Bearer {token.get_secret_value()}".encode() if token is not None else None
        self.max_body_bytes = max_body_bytes
        self.open_paths = open_paths

    def _refusal(self, scope: Scope) -> tuple[int, str] | None:
        if scope["method"] in ("GET", "HEAD") and scope["path"] in self.open_paths:
            return None
        if self.expected is None:
            return 403, "no API token is configured: the API is read-only"
        given = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
        if not hmac.compare_digest(given, self.expected):
            return 401, "missing or wrong token"
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope)
        if refusal is not None:
            status, detail = refusal
            await _answer(send, status, detail, [(b"www-authenticate", b"Bearer")] if status == 401 else None)
            return
        too_large = f"request body too large (at most {self.max_body_bytes} bytes)"
        length = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            await _answer(send, 413, too_large)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await _answer(send, 413, too_large)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
