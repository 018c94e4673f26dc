"""Fleets: many devices drawn from distributions, simulated in parallel (threads or Dask)."""
