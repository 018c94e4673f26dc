"""Compiled circuit fact shared by the series and parallel solvers."""

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
