"""Supervision of long-lived asyncio tasks: a task that raises or ends is logged and restarted with backoff.

Every task's health (running, restarts, last error) is kept for ``/status``. A
supervised task never takes the event loop down with it, not even by
``SystemExit`` (uvicorn exits that way when its port is taken).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from socbal.runtime.payload import shorten

log = logging.getLogger("socbal.runtime.supervise")


@dataclass
class TaskHealth:
    """How one supervised task is doing."""

    running: bool = False
    restarts: int = 0
    last_error: str | None = None

    def as_dict(self) -> dict:
        return {"running": self.running, "restarts": self.restarts, "last_error": self.last_error}


class Supervisor:
    """Starts named tasks from factories and restarts each when it dies (backoff ``min_s`` doubling to ``max_s``).

    ``on_death(name, reason)`` is called once per death (e.g. to write the event log).
    A task that ran longer than ``max_s`` before dying restarts after ``min_s`` again.
    """

    def __init__(self, min_s: float = 0.5, max_s: float = 30.0, on_death: Callable[[str, str], None] | None = None) -> None:
        self.min_s = min_s
        self.max_s = max_s
        self.on_death = on_death
        self.health: dict[str, TaskHealth] = {}
        self.tasks: dict[str, asyncio.Task] = {}
        self._stopping = False

    def start(self, name: str, factory: Callable[[], Awaitable[None]]) -> asyncio.Task:
        """Run ``factory()`` as task ``name`` under supervision."""
        self.health[name] = TaskHealth()
        task = asyncio.create_task(self._keep(name, factory), name=name)
        self.tasks[name] = task
        return task

    def snapshot(self) -> dict[str, dict]:
        """Health of every task, for ``/status``."""
        return {name: h.as_dict() for name, h in self.health.items()}

    async def _keep(self, name: str, factory: Callable[[], Awaitable[None]]) -> None:
        health = self.health[name]
        backoff = self.min_s
        while not self._stopping:
            started = time.monotonic()
            health.running = True
            try:
                await factory()
                reason = "ended unexpectedly"
            except asyncio.CancelledError:
                health.running = False
                raise
            except (Exception, SystemExit) as err:  # noqa: BLE001 - whatever killed it, it is restarted
                reason = shorten(f"{type(err).__name__}: {err}", 300)
            health.running = False
            if self._stopping:
                return
            health.restarts += 1
            health.last_error = reason
            if time.monotonic() - started > self.max_s:
                backoff = self.min_s
            log.error("task %s died (%s); restart %d in %.1f s", name, reason, health.restarts, backoff)
            if self.on_death is not None:
                with contextlib.suppress(Exception):
                    self.on_death(name, reason)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2.0, self.max_s)

    def stopping(self) -> None:
        """From now on a task that ends is not restarted."""
        self._stopping = True

    async def stop(self, timeout_s: float = 5.0, cancel: bool = True) -> None:
        """Stop restarting; cancel every task (unless ``cancel`` is false) and wait for them up to ``timeout_s``."""
        self._stopping = True
        tasks = [t for t in self.tasks.values() if not t.done()]
        if cancel:
            for t in tasks:
                t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout_s)


async def run_periodically(
    stop: asyncio.Event,
    period_s: Callable[[], float],
    body: Callable[[], Awaitable[object]],
    on_error: Callable[[Exception], None],
) -> None:
    """Await ``body()`` every ``period_s()`` seconds until ``stop`` is set. An exception goes to ``on_error`` and the
    loop goes on (a bug must not stop a control loop); a late round skips the missed ticks rather than bunching them."""
    loop = asyncio.get_running_loop()
    next_t = loop.time()
    while not stop.is_set():
        try:
            await body()
        except Exception as err:  # noqa: BLE001 - see the docstring
            on_error(err)
        next_t += period_s()
        delay = next_t - loop.time()
        if delay < 0:
            next_t, delay = loop.time(), 0.0
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)
