"""Settings store and event log in one SQLite file (stdlib ``sqlite3``).

Every write is one transaction, committed before the call returns (WAL journal,
``synchronous=FULL``): a setting change and its event land together or not at
all, and nothing committed is lost when the process stops or crashes.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

from socbal.ems.models import Settings

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
"""

#: Event kinds written by the runtime.
EVENT_KINDS = ("start", "stop", "setpoints", "fault", "recovered", "setting", "rejected", "link")


class StateStore:
    """Persisted settings plus an append-only event log; safe to share between threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False, timeout=10)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the database (all writes are already committed)."""
        with self._lock:
            self._conn.close()

    def load_settings(self) -> Settings | None:
        """The persisted settings, or ``None`` when none were ever saved (or they no longer validate)."""
        with self._lock:
            row = self._conn.execute("SELECT json FROM settings WHERE id = 1").fetchone()
        if row is None:
            return None
        try:
            return Settings.model_validate_json(row[0])
        except ValueError:
            return None

    def save_settings(self, settings: Settings, message: str, data: dict | None = None) -> int:
        """Persist ``settings`` and log a ``setting`` event in one transaction; returns the event id."""
        now = time.time()
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.execute(
                    "INSERT INTO settings (id, json, updated_at) VALUES (1, ?, ?) "
                    "ON CONFLICT(id) DO UPDATE SET json = excluded.json, updated_at = excluded.updated_at",
                    (settings.model_dump_json(), now),
                )
                cur = self._conn.execute(
                    "INSERT INTO events (ts, kind, pack_id, message, data) VALUES (?, 'setting', NULL, ?, ?)",
                    (now, message, json.dumps(data) if data is not None else None),
                )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return int(cur.lastrowid)

    def log(self, kind: str, message: str, pack_id: str | None = None, data: dict | None = None) -> int:
        """Append one event (committed on return); returns its id."""
        with self._lock:
            cur = self._conn.execute(
                "INSERT INTO events (ts, kind, pack_id, message, data) VALUES (?, ?, ?, ?, ?)",
                (time.time(), kind, pack_id, message, json.dumps(data) if data is not None else None),
            )
        return int(cur.lastrowid)

    def events(self, after_id: int = 0, kind: str | None = None, limit: int = 1000) -> list[dict]:
        """Events with id > ``after_id`` (oldest first), optionally of one kind."""
        sql = "SELECT id, ts, kind, pack_id, message, data FROM events WHERE id > ?"
        args: list = [after_id]
        if kind is not None:
            sql += " AND kind = ?"
            args.append(kind)
        sql += " ORDER BY id LIMIT ?"
        args.append(int(limit))
        with self._lock:
            rows = self._conn.execute(sql, args).fetchall()
        return [
            {
                "id": r[0],
                "ts": r[1],
                "kind": r[2],
                "pack_id": r[3],
                "message": r[4],
                "data": json.loads(r[5]) if r[5] is not None else None,
            }
            for r in rows
        ]
