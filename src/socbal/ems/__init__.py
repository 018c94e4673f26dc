"""The EMS decision: pure, compiled array code plus its validated models."""

from socbal import _jit_cache

_jit_cache.configure()  # before any compiled module of this package is imported
