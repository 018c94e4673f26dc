"""Settings store, event log and energy totals in one SQLite file (stdlib ``sqlite3``), written off the event loop.

Writes go through a :class:`~socbal.runtime.dbwriter.DbWriter` (a dedicated
thread, a bounded queue, retried until the database takes them): a setting
change and its event commit together, in the order they were made, and nothing
accepted is lost while the database is locked or failing. Reads (``events``,
``load_settings``) use their own connection. Retention: events older than
``retention_days`` go, and the oldest go while the file is over ``max_bytes``
(then an incremental vacuum gives the space back). Energy totals (kWh) are kept
per name and never lowered; :meth:`StateStore.committed_energy` gives only totals
already committed, so what is published never exceeds what a restart finds. The file is locked against a
second process (:class:`~socbal.runtime.instancelock.InstanceLock`).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeVar

from pydantic import BaseModel

from socbal.ems.models import Settings
from socbal.errors import InputError
from socbal.runtime.dbwriter import DbWriter
from socbal.runtime.instancelock import InstanceLock
from socbal.runtime.payload import shorten

if TYPE_CHECKING:
    from socbal.runtime.config import EventLogLimits

log = logging.getLogger("socbal.runtime.store")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    json TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    kind TEXT NOT NULL,
    pack_id TEXT,
    message TEXT NOT NULL,
    data TEXT
);
CREATE INDEX IF NOT EXISTS events_kind ON events (kind, id);
CREATE INDEX IF NOT EXISTS events_ts ON events (ts);
CREATE TABLE IF NOT EXISTS energy (
    name TEXT PRIMARY KEY,
    kwh REAL NOT NULL CHECK (kwh >= 0),
    updated_at REAL NOT NULL
);
"""
_SAVE_ENERGY = (
    "INSERT INTO energy (name, kwh, updated_at) VALUES (?, ?, ?) "
    "ON CONFLICT(name) DO UPDATE SET kwh = max(energy.kwh, excluded.kwh), updated_at = excluded.updated_at"
)

#: Event kinds written by the runtime.
EventKind = Literal["start", "stop", "setpoints", "fault", "recovered", "setting", "rejected", "link"]
#: Longest event message kept, characters (untrusted text is cut to this).
MAX_MESSAGE_CHARS = 500
M = TypeVar("M", bound=BaseModel)
_INSERT_EVENT = "INSERT INTO events (ts, kind, pack_id, message, data) VALUES (?, ?, ?, ?, ?)"


def _setup(conn: sqlite3.Connection) -> None:
    """Pragmas and schema; an existing file without incremental auto-vacuum is converted once."""
    fresh = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
    if fresh:
        conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
    elif conn.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:
        log.warning("event log: converting the state database to incremental vacuum (once)")
        conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
        conn.execute("VACUUM")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA journal_size_limit=8388608")
    conn.executescript(_SCHEMA)


def db_bytes(conn: sqlite3.Connection) -> int:
    """Bytes the database's pages hold (free pages not counted)."""
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    used = conn.execute("PRAGMA page_count").fetchone()[0] - conn.execute("PRAGMA freelist_count").fetchone()[0]
    return int(page * used)


def trim_events(conn: sqlite3.Connection, retention_s: float, max_bytes: int, now_s: float | None = None) -> int:
    """Delete events older than ``retention_s`` and, while over ``max_bytes``, the oldest; vacuum. Returns rows deleted."""
    now_s = time.time() if now_s is None else now_s
    deleted = conn.execute("DELETE FROM events WHERE ts < ?", (now_s - retention_s,)).rowcount
    for _ in range(20):  # each round removes a share of the rows, sized by how far over the cap the file is
        size = db_bytes(conn)
        if size <= max_bytes:
            break
        rows = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        if rows == 0:
            break
        drop = max(1, int(rows * (1.0 - 0.9 * max_bytes / size)))
        deleted += conn.execute("DELETE FROM events WHERE id IN (SELECT id FROM events ORDER BY id LIMIT ?)", (drop,)).rowcount
        conn.executescript("PRAGMA incremental_vacuum;")  # execute() would free one page only
    if deleted:
        conn.executescript("PRAGMA incremental_vacuum;")  # execute() would free one page only
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        log.info("event log: %d old events removed (retention), %.1f MB in use", deleted, db_bytes(conn) / 1e6)
    return deleted


class StateStore:
    """Persisted settings plus the event log; every write is queued (see the module docstring)."""

    @classmethod
    def with_limits(cls, path: str | Path, limits: EventLogLimits) -> StateStore:
        """The store at ``path`` with a config section's event-log retention, size, housekeeping and busy timeout."""
        return cls(
            path,
            retention_days=limits.event_retention_days,
            max_mb=limits.event_log_max_mb,
            housekeeping_s=limits.housekeeping_s,
            busy_timeout_s=limits.db_busy_timeout_s,
        )

    def __init__(
        self,
        path: str | Path,
        retention_days: float = 365.0,
        max_mb: float = 200.0,
        housekeeping_s: float = 3600.0,
        busy_timeout_s: float = 0.25,
        queue_max: int = 10_000,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lock = InstanceLock(self.path)
        try:
            self._read_lock = threading.Lock()
            self._reader = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False, timeout=2.0)
            _setup(self._reader)
        except sqlite3.Error as err:
            self.lock.release()
            raise InputError(f"{self.path}: cannot open the state database: {err}") from None
        except BaseException:
            self.lock.release()
            raise
        retention_s, max_bytes = retention_days * 86400.0, int(max_mb * 1e6)

        def housekeeping(conn: sqlite3.Connection) -> None:
            trim_events(conn, retention_s, max_bytes)

        self._energy_lock = threading.Lock()  # the control loop saves, the HTTP API's threads read
        self._energy_waiting: list[tuple[int, dict[str, float]]] = []  # (ticket, totals) not yet known committed
        self._energy_committed = self.load_energy()
        self.writer = DbWriter(
            self.path,
            _setup,
            queue_max=queue_max,
            busy_timeout_s=busy_timeout_s,
            housekeeping=housekeeping,
            housekeeping_s=housekeeping_s,
        )

    @property
    def fault(self) -> str | None:
        """Why writes are failing right now (they are being retried), or ``None``."""
        return self.writer.fault

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until every write so far is committed."""
        return self.writer.flush(timeout_s)

    def close(self, timeout_s: float = 5.0) -> bool:
        """Commit what is queued (up to ``timeout_s``), close, and release the instance lock."""
        try:
            ok = self.writer.close(timeout_s)
            with self._read_lock:
                self._reader.close()
            return ok
        finally:
            self.lock.release()

    def load_settings(self, model: type[M] = Settings) -> M | None:  # type: ignore[assignment]
        """The persisted settings (a ``model``), or ``None`` when none were ever saved (or they no longer validate)."""
        with self._read_lock:
            row = self._reader.execute("SELECT json FROM settings WHERE id = 1").fetchone()
        if row is None:
            return None
        try:
            return model.model_validate_json(row[0])
        except ValueError:
            return None

    def save_settings(self, settings: BaseModel, message: str, data: dict | None = None) -> bool:
        """Queue: persist ``settings`` and log a ``setting`` event together; False when the queue is full."""
        now = time.time()
        return self.writer.submit(
            [
                (
                    "INSERT INTO settings (id, json, updated_at) VALUES (1, ?, ?) "
                    "ON CONFLICT(id) DO UPDATE SET json = excluded.json, updated_at = excluded.updated_at",
                    (settings.model_dump_json(), now),
                ),
                (_INSERT_EVENT, (now, "setting", None, shorten(message, MAX_MESSAGE_CHARS), _json(data))),
            ]
        )

    def clear_settings(self, message: str) -> bool:
        """Queue: forget the persisted settings (the config's apply at the next start) and log it."""
        return self.writer.submit([("DELETE FROM settings", ()), (_INSERT_EVENT, (time.time(), "setting", None, message, None))])

    def load_energy(self) -> dict[str, float]:
        """The persisted energy totals, kWh by name (empty when none were saved)."""
        with self._read_lock:
            return {name: float(kwh) for name, kwh in self._reader.execute("SELECT name, kwh FROM energy")}

    def save_energy(self, totals_kwh: dict[str, float]) -> bool:
        """Queue: persist the energy totals (a stored total is never lowered); False when the queue is full."""
        now = time.time()
        totals = dict(totals_kwh)
        with self._energy_lock:
            ticket = self.writer.enqueue([(_SAVE_ENERGY, (name, kwh, now)) for name, kwh in totals.items()])
            if ticket is None:
                return False
            self._energy_waiting.append((ticket, totals))
            return True

    def committed_energy(self) -> dict[str, float]:
        """The latest energy totals saved with :meth:`save_energy` that are committed (at first: the persisted ones)."""
        with self._energy_lock:
            done = self.writer.committed
            while self._energy_waiting and self._energy_waiting[0][0] <= done:
                self._energy_committed.update(self._energy_waiting.pop(0)[1])
            return dict(self._energy_committed)

    def log(self, kind: str, message: str, pack_id: str | None = None, data: dict | None = None) -> bool:
        """Queue one event (message cut to :data:`MAX_MESSAGE_CHARS`); False when the queue is full."""
        return self.writer.submit(
            [(_INSERT_EVENT, (time.time(), kind, pack_id, shorten(message, MAX_MESSAGE_CHARS), _json(data)))]
        )

    def events(self, after_id: int = 0, kind: str | None = None, limit: int = 1000, max_bytes: int | None = None) -> list[dict]:
        """Committed events with id > ``after_id`` (oldest first), optionally of one kind.

        At most ``limit`` rows, and (when ``max_bytes`` is given) no more than fit in
        ``max_bytes`` of JSON (at least one); page on with the last id.
        """
        sql = "SELECT id, ts, kind, pack_id, message, data FROM events WHERE id > ?"
        args: list = [after_id]
        if kind is not None:
            sql += " AND kind = ?"
            args.append(kind)
        sql += " ORDER BY id LIMIT ?"
        args.append(int(limit))
        out: list[dict] = []
        used = 0
        with self._read_lock:
            for r in self._reader.execute(sql, args):
                size = 80 + len(r[2]) + len(r[3] or "") + len(r[4]) + len(r[5] or "")
                if max_bytes is not None and out and used + size > max_bytes:
                    break
                used += size
                out.append(
                    {
                        "id": r[0],
                        "ts": r[1],
                        "kind": r[2],
                        "pack_id": r[3],
                        "message": r[4],
                        "data": json.loads(r[5]) if r[5] is not None else None,
                    }
                )
        return out


def _json(data: dict | None) -> str | None:
    return json.dumps(data) if data is not None else None
