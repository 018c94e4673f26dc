"""The device simulator: dispatch, EMS, pack physics and SOC estimation stepped through time."""

from socbal import _jit_cache

_jit_cache.configure()  # before any compiled module of this package is imported
