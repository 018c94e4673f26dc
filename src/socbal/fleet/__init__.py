"""Fleets: many devices drawn from distributions, simulated in parallel (threads or Dask)."""

from socbal import _jit_cache

_jit_cache.configure()  # before any compiled module of this package is imported
