"""Where Numba caches socbal's compiled code: one folder per version of the compiled sources.

Numba's own cache does not notice when a function *called by* a cached function
changes in another module, so a stale kernel could run after an edit. Keying
the cache folder on a hash of every module that holds compiled code rules that out.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numba

PACKAGE_DIR = Path(__file__).resolve().parent


def sources_digest() -> str:
    """Short hash of the sources of every module that uses Numba, directly or through :mod:`socbal.jit`
    (any sub-package, new ones included)."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        source = path.read_bytes()
        if b"numba" in source or b"socbal.jit" in source:
            digest.update(str(path.relative_to(PACKAGE_DIR)).encode())
            digest.update(source)
    return digest.hexdigest()[:16]


_configured = False


def configure() -> None:
    """Point Numba's cache at a folder for this version of the sources, unless the user chose one.

    Called by each sub-package with compiled code before its first ``@njit(cache=True)``.
    """
    global _configured
    if _configured or os.environ.get("NUMBA_CACHE_DIR"):
        return
    _configured = True
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "socbal" / "numba"
    # numba.config sets its options through globals(), which mypy cannot see
    numba.config.CACHE_DIR = str(base / sources_digest())  # type: ignore[attr-defined]


def is_compiled(qualname: str) -> bool:
    """Whether the cache already holds compiled code of ``qualname`` (e.g. ``"kernel.advance"``): a first run
    compiles for tens of seconds, and the CLI says so."""
    return any(Path(numba.config.CACHE_DIR).rglob(f"{qualname}-*.nbi"))  # type: ignore[attr-defined]
