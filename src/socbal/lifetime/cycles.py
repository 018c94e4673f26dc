"""Cycle statistics of one pack from its SOC trajectory (SOC in %, fixed step in s).

``soc_swing_efc`` counts equivalent full cycles from the SOC swings, Σ|ΔSOC| / 200 %
(a 100 % swing down and back up is one cycle; it sees the cells' SOC, so losses
and standby count, unlike the bus-side ``throughput_efc`` of ``socbal simulate``);
the depth-of-discharge histogram counts rainflow cycles (half cycles count 0.5).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from socbal.errors import InputError

DEFAULT_DOD_BINS_PCT = (0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100)


def _rainflow():
    """The ``rainflow`` package (the lifetime extra), imported when cycles are first counted, so that reading a
    saved study (``socbal report``) needs only the report extra."""
    try:
        import rainflow
    except ImportError:
        raise InputError("counting rainflow cycles needs the rainflow package: pip install 'socbal[lifetime]'") from None
    return rainflow


def checked_soc_pct(soc_pct) -> np.ndarray:
    """SOC as a float array in %, checked to lie in 0-100."""
    soc = np.asarray(soc_pct, dtype=float).ravel()
    bad = np.flatnonzero(~((soc >= 0) & (soc <= 100)))
    if len(bad):
        raise InputError(f"soc_pct[{bad[0]}]: value {float(soc[bad[0]])!r} is not allowed: must be 0-100")
    return soc


def soc_swing_efc(soc_pct) -> float:
    """Equivalent full cycles from the SOC swings: total |SOC change| in % / 200."""
    return float(np.abs(np.diff(checked_soc_pct(soc_pct))).sum() / 200.0)


def dod_histogram(soc_pct, bins_pct: Sequence[float] = DEFAULT_DOD_BINS_PCT) -> pd.DataFrame:
    """Rainflow cycle counts by depth of discharge: columns dod_from_pct, dod_to_pct, cycles.

    A cycle of depth d falls in the bin with from < d <= to (the first bin also takes d = from).
    """
    edges = np.asarray(bins_pct, dtype=float)
    depths, counts = [], []
    for depth, _mean, count, _start, _end in _rainflow().extract_cycles(checked_soc_pct(soc_pct)):
        depths.append(depth)
        counts.append(count)
    which = np.clip(np.searchsorted(edges, np.asarray(depths, dtype=float), side="left") - 1, 0, len(edges) - 2)
    cycles = np.bincount(which, weights=np.asarray(counts, dtype=float), minlength=len(edges) - 1)
    return pd.DataFrame({"dod_from_pct": edges[:-1], "dod_to_pct": edges[1:], "cycles": cycles})


def time_at_soc_s(soc_pct, step_s: float, high_pct: float = 90.0, low_pct: float = 10.0) -> tuple[float, float]:
    """Seconds spent at SOC >= ``high_pct`` and at SOC <= ``low_pct`` (each sample holds for ``step_s``)."""
    if not step_s > 0:
        raise InputError(f"step_s: value {step_s!r} is not allowed: must be > 0")
    soc = checked_soc_pct(soc_pct)
    return float((soc >= high_pct).sum() * step_s), float((soc <= low_pct).sum() * step_s)


def cycle_summary(soc_pct: pd.DataFrame, step_s: float, high_pct: float = 90.0, low_pct: float = 10.0) -> pd.DataFrame:
    """One row per pack (a column of ``soc_pct``): soc_swing_efc, time_high_s, time_low_s, mean_soc_pct, max_dod_pct."""
    rows = {}
    for pack in soc_pct.columns:
        soc = soc_pct[pack].to_numpy(float)
        high_s, low_s = time_at_soc_s(soc, step_s, high_pct, low_pct)
        depths = [depth for depth, _count in _rainflow().count_cycles(soc)]
        rows[pack] = {
            "soc_swing_efc": soc_swing_efc(soc),
            "time_high_s": high_s,
            "time_low_s": low_s,
            "mean_soc_pct": float(soc.mean()),
            "max_dod_pct": float(max(depths, default=0.0)),
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("pack")
