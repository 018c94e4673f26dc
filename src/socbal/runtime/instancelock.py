"""One process per state file: an exclusive, non-blocking ``flock`` on ``<file>.lock`` (released when the process ends)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from socbal.errors import InputError


class InstanceLock:
    """Held from construction until :meth:`release`; a second holder gets :class:`InputError` with one line."""

    def __init__(self, path: str | Path, what: str = "socbal run") -> None:
        self.path = Path(f"{path}.lock")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise InputError(
                f"{path}: another {what} (pid {holder}) already uses this state file; stop it first, "
                "or give this one its own runtime.state_db"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd: int | None = fd

    def release(self) -> None:
        """Give the lock up (idempotent)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
