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
    k = np.int64(time_s / step_s)  # not int() nor min(): each compiles an overload of its own
    last = values.shape[0] - 1
    return values[k if k < last else last]


def values_at(values: np.ndarray, step_s: float, time_s: np.ndarray) -> np.ndarray:
    """:func:`value_at` for an array of times (s), vectorised."""
    index = np.minimum((time_s / step_s).astype(np.int64), values.shape[0] - 1)
    return values[index]


def interval_means(values: np.ndarray, profile_step_s: float, step_s: float) -> np.ndarray:
    """Means of a held profile (``values`` every ``profile_step_s``, the last one held on) over intervals of ``step_s``.

    Exact for a held profile: the integral is piecewise linear between the profile's stamps.
    Covers the profile's span, ``len(values) * profile_step_s``, rounded up to whole intervals.
    """
    n = max(1, int(np.ceil(len(values) * profile_step_s / step_s - 1e-9)))
    stamps_s = np.arange(len(values) + 1) * profile_step_s
    integral = np.concatenate(([0.0], np.cumsum(values) * profile_step_s))
    edges_s = np.arange(n + 1) * step_s
    at_edges = np.interp(edges_s, stamps_s, integral) + np.clip(edges_s - stamps_s[-1], 0.0, None) * values[-1]
    return np.diff(at_edges) / step_s


def held_profile(
    series: pd.Series, start: pd.Timestamp, horizon_s: float, name: str, step_s: float | None = None
) -> tuple[np.ndarray, float]:
    """A profile as ``(values_w, step_s)`` starting at ``start``, to be held per interval.

    With ``step_s`` (the run's step), a profile finer than the run, or one whose interval is not a whole number of
    run steps, is averaged over each run step (energy kept) instead of read at the step's start: a 1 s file at 60 s
    steps keeps its short peaks' energy, and a 420 s step that straddles two 15-min readings takes each for its share.
    """
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
    held = series.reindex(index, method="ffill").to_numpy(dtype=float)
    profile_step_s = step.total_seconds()
    steps_per_value = profile_step_s / step_s if step_s is not None else 1.0
    if step_s is not None and (profile_step_s < step_s or abs(steps_per_value - round(steps_per_value)) > 1e-9):
        return interval_means(held, profile_step_s, step_s), float(step_s)
    return held, profile_step_s
