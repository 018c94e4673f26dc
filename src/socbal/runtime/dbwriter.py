"""A dedicated writer thread for one SQLite file: callers queue writes and never wait for the database.

Each job is a list of ``(sql, parameters)`` statements that commit together.
Jobs go into a bounded queue (a full queue refuses the job: ``submit`` returns
False and counts it as dropped) and are committed in order, in batches, by the
one thread that owns the write connection. A failing write (locked database,
I/O error, full disk) is retried with backoff and reported in :attr:`DbWriter.fault`
(one log line when it starts, one when it clears); a job accepted by ``submit``
is kept until it is written. Busy waits are short (``busy_timeout_s``).
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("socbal.runtime.dbwriter")

Statement = tuple[str, tuple]
Job = list[Statement]

#: Errors that mean "this job is malformed" (a bug): it is dropped, not retried.
_BAD_JOB = (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError, sqlite3.DataError, TypeError, ValueError)


class DbWriter:
    """The write side of one SQLite file (see the module docstring).

    ``setup(conn)`` runs on every new connection (pragmas, schema);
    ``housekeeping(conn)`` runs every ``housekeeping_s`` seconds between batches (retention).
    """

    def __init__(
        self,
        path: str | Path,
        setup: Callable[[sqlite3.Connection], None],
        queue_max: int = 10_000,
        busy_timeout_s: float = 0.25,
        retry_min_s: float = 0.1,
        retry_max_s: float = 5.0,
        batch_max: int = 500,
        housekeeping: Callable[[sqlite3.Connection], None] | None = None,
        housekeeping_s: float = 3600.0,
    ) -> None:
        self.path = Path(path)
        self._setup = setup
        self._queue: queue.Queue[Job] = queue.Queue(maxsize=queue_max)
        self._busy_timeout_s = busy_timeout_s
        self._retry = (retry_min_s, retry_max_s)
        self._batch_max = batch_max
        self._housekeeping = housekeeping
        self._housekeeping_s = housekeeping_s
        self._next_housekeeping_s = 0.0  # at the first batch
        self._cond = threading.Condition()
        self._submitted = 0
        self._done = 0
        self._closing = False
        self._abandon = False  # close() timed out: stop retrying
        self.fault: str | None = None
        self.dropped = 0  # jobs refused because the queue was full, or malformed
        self.written = 0
        self._thread = threading.Thread(target=self._run, name=f"dbwriter:{self.path.name}", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        """Jobs accepted and not yet committed."""
        with self._cond:
            return self._submitted - self._done

    @property
    def committed(self) -> int:
        """Jobs committed so far (in the order they were queued): a job's ticket is committed once this reaches it."""
        with self._cond:
            return self._done

    def submit(self, job: Job) -> bool:
        """Queue ``job``; False (and counted in :attr:`dropped`) when the queue is full or the writer closed."""
        return self.enqueue(job) is not None

    def enqueue(self, job: Job) -> int | None:
        """Queue ``job`` and return its ticket (see :attr:`committed`); ``None`` as :meth:`submit` returns False."""
        with self._cond:
            if self._closing:
                return None
            try:
                self._queue.put_nowait(job)
            except queue.Full:
                self.dropped += 1
                if self.dropped == 1 or self.dropped % 1000 == 0:
                    log.error("event log: queue full (%d writes waiting); %d writes refused so far", self.pending, self.dropped)
                return None
            self._submitted += 1
            return self._submitted

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until every job submitted so far is committed; False on timeout."""
        with self._cond:
            target = self._submitted
            return self._cond.wait_for(lambda: self._done >= target, timeout=timeout_s)

    def close(self, timeout_s: float = 5.0) -> bool:
        """Write what is queued (up to ``timeout_s``), then stop the thread; False when jobs were left unwritten."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout_s)
        self._abandon = True
        self._thread.join(1.0)
        left = self.pending
        if left:
            log.error("event log: %d writes could not be committed to %s before shutdown (%s)", left, self.path, self.fault)
        return left == 0

    # --- the writer thread ---------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(str(self.path), isolation_level=None, timeout=self._busy_timeout_s, check_same_thread=False)
        try:
            self._setup(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _take(self) -> list[Job] | None:
        """The next batch (blocks briefly); None when closing and nothing is left."""
        batch: list[Job] = []
        while not batch:
            try:
                batch.append(self._queue.get(timeout=0.1))
            except queue.Empty:
                if self._closing:
                    return None
                continue
        while len(batch) < self._batch_max:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _commit(self, conn: sqlite3.Connection, jobs: list[Job]) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for job in jobs:
                for sql, args in job:
                    conn.execute(sql, args)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _write(self, conn: sqlite3.Connection, batch: list[Job]) -> None:
        try:
            self._commit(conn, batch)
        except _BAD_JOB:  # one malformed job must not block the others: commit them one by one
            for job in batch:
                try:
                    self._commit(conn, [job])
                except _BAD_JOB as err:
                    self.dropped += 1
                    log.error("event log: dropped a malformed write (%s)", err)

    def _set_fault(self, err: Exception | None) -> None:
        if err is None:
            if self.fault is not None:
                log.warning("event log: %s writable again; %d writes caught up", self.path, self.pending)
            self.fault = None
        else:
            text = f"eventlog: cannot write {self.path}: {err} ({self.pending} writes waiting)"
            if self.fault is None:
                log.error("%s; retrying", text)
            self.fault = text

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        delay_s = self._retry[0]
        while True:
            batch = self._take()
            if batch is None:
                break
            while True:
                try:
                    if conn is None:
                        conn = self._connect()
                    self._write(conn, batch)
                    break
                except sqlite3.Error as err:
                    self._set_fault(err)
                    if conn is not None:
                        conn.close()
                        conn = None
                    if self._abandon:
                        return
                    time.sleep(delay_s)
                    delay_s = min(delay_s * 2.0, self._retry[1])
            delay_s = self._retry[0]
            self._set_fault(None)
            with self._cond:
                self._done += len(batch)
                self.written += len(batch)
                self._cond.notify_all()
            if self._housekeeping is not None and time.monotonic() >= self._next_housekeeping_s:
                self._next_housekeeping_s = time.monotonic() + self._housekeeping_s
                try:
                    self._housekeeping(conn)
                except sqlite3.Error as err:
                    log.warning("event log: housekeeping failed (%s); next try in %g s", err, self._housekeeping_s)
        if conn is not None:
            conn.close()
