"""Profiles held per interval: a series turned into ``(values, step_s)`` arrays, and their value at a time.

The simulator's compiled loop, the emulator and ``socbal compare`` all read profiles through
:func:`value_at` (one rule: the value of the interval that holds the time; the last value holds
past the end).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from socbal import _jit_cache
from socbal.errors import InputError
from socbal.jit import inline_kernel

_jit_cache.configure()  # before the first @njit(cache=True) below


@inline_kernel
def value_at(values: np.ndarray, step_s: float, time_s: float) -> float:
    """Value of a held profile at ``time_s`` (s from its start); the last value holds past its end."""
    k = int(time_s / step_s)
    return values[min(k, values.shape[0] - 1)]


def values_at(values: np.ndarray, step_s: float, time_s: np.ndarray) -> np.ndarray:
    """:func:`value_at` for an array of times (s), vectorised."""
    index = np.minimum((time_s / step_s).astype(np.int64), values.shape[0] - 1)
    return values[index]


def held_profile(series: pd.Series, start: pd.Timestamp, horizon_s: float, name: str) -> tuple[np.ndarray, float]:
    """A profile as ``(values_w, step_s)`` starting at ``start``, to be held per interval."""
    values = series.to_numpy(dtype=float)
    if len(series) == 0:
        raise InputError(f"{name}: the profile is empty")
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        bad = values[~np.isfinite(values) | (values < 0)][0]
        raise InputError(f"{name}: value {bad} is not allowed: must be finite and >= 0")
    if len(series) == 1:
        return values, max(horizon_s, 1.0)
    if series.index[0] > pd.Timestamp(start):
        raise InputError(f"{name}: the profile starts at {series.index[0]}, after the run's start {start}")
    step = series.index[1] - series.index[0]
    index = pd.date_range(pd.Timestamp(start), pd.Timestamp(start) + pd.Timedelta(seconds=horizon_s), freq=step)
    held = series.reindex(index, method="ffill")
    return held.to_numpy(dtype=float), step.total_seconds()
