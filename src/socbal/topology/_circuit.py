"""Small compiled circuit helpers shared by the series and parallel kernels (plain floats and arrays)."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def terminal_current_a(power_w: float, emf_v: float, resistance_ohm: float) -> float:
    """Current in A that delivers ``power_w`` W at the terminals of a source ``emf_v`` V behind ``resistance_ohm``.

    The smaller root of ``R I^2 - E I + P = 0`` (negative for charging power).
    A discharge above the source's maximum power ``E^2 / 4R`` gets the current
    of that maximum, ``E / 2R``.
    """
    disc = emf_v * emf_v - 4.0 * resistance_ohm * power_w
    if disc < 0.0:
        return emf_v / (2.0 * resistance_ohm)
    return 2.0 * power_w / (emf_v + np.sqrt(disc))


@njit(cache=True)
def time_to_bound_s(soc_pct: float, capacity_as: float, current_a: float) -> float:
    """Seconds until a pack at ``soc_pct`` reaches 0 % (discharging) or 100 % (charging) at ``current_a``; inf at 0 A."""
    if current_a > 0.0:
        return soc_pct / 100.0 * capacity_as / current_a
    if current_a < 0.0:
        return (100.0 - soc_pct) / 100.0 * capacity_as / -current_a
    return np.inf


@njit(cache=True)
def advance_soc(soc_pct: np.ndarray, capacity_as: np.ndarray, current_a: np.ndarray, dt_s: float, hit: int) -> None:
    """Move every SOC by ``current_a * dt_s``; pack ``hit`` (-1: none) lands exactly on its bound. In place."""
    for i in range(soc_pct.shape[0]):
        soc_pct[i] -= current_a[i] * dt_s / capacity_as[i] * 100.0
        soc_pct[i] = min(max(soc_pct[i], 0.0), 100.0)
    if hit >= 0:
        soc_pct[hit] = 0.0 if current_a[hit] > 0.0 else 100.0
