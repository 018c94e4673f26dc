"""Household load profiles in W: BDEW standard load profiles scaled to an annual consumption.

``"h0"`` is the classic BDEW H0 household profile (1999, dynamised),
``"h25"`` its 2025 revision; both come from the data shipped in demandlib and
are 15-minute mean powers in local wall-clock time, no public holidays.
Each calendar year of the result holds exactly ``annual_kwh``; each value is
the mean power over the interval that starts at its timestamp.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from socbal.errors import InputError

STEP = pd.Timedelta(minutes=15)
Profile = Literal["h0", "h25"]

# BDEW H0 seasons as (month, day) from which a season runs, in calendar order.
_H0_SEASONS = (((1, 1), "winter"), ((3, 21), "transition"), ((5, 15), "summer"), ((9, 15), "transition"), ((11, 1), "winter"))


def _h0_table() -> dict[tuple[str, int], np.ndarray]:
    """demandlib's H0 table: (season, ISO weekday 1-7) -> 96 quarter-hour values."""
    from demandlib.bdew import _profiles25

    frame = pd.read_csv(Path(_profiles25._bdew_datapath) / "selp_series.csv")
    return {key: group["h0"].to_numpy(float) for key, group in frame.groupby(["period", "weekday"])}


def _h0_shape(index: pd.DatetimeIndex) -> np.ndarray:
    """Unscaled dynamised H0 values on a 15-minute ``index`` (local wall-clock time)."""
    table = _h0_table()
    month_day = index.month * 100 + index.day
    season = np.full(len(index), "winter", dtype=object)
    for (month, day), name in _H0_SEASONS:
        season[month_day >= month * 100 + day] = name
    slot = (index.hour * 4 + index.minute // 15).to_numpy()
    weekday = (index.day_of_week + 1).to_numpy()
    values = np.empty(len(index))
    for (name, day_no), row in table.items():
        mask = (season == name) & (weekday == day_no)
        values[mask] = row[slot[mask]]
    doy = index.day_of_year.to_numpy(float)
    dynamic = -3.92e-10 * doy**4 + 3.2e-7 * doy**3 - 7.02e-5 * doy**2 + 2.1e-3 * doy + 1.24
    return values * dynamic


def _h25_shape(index: pd.DatetimeIndex) -> np.ndarray:
    """Unscaled BDEW H25 values on a 15-minute ``index``, from demandlib."""
    from demandlib.bdew import H25

    naive = pd.DatetimeIndex(index.tz_localize(None) if index.tz is not None else index, freq=None)
    # demandlib wants a regular naive index; look up each local wall-clock time in a plain year.
    year_index = pd.date_range(f"{naive[0].year}-01-01", f"{naive[-1].year + 1}-01-01", freq=STEP, inclusive="left")
    with warnings.catch_warnings():  # demandlib's own pandas deprecation warnings
        warnings.simplefilter("ignore")
        return H25(year_index).reindex(naive).to_numpy(float)


def _year_w(year: int, annual_kwh: float, profile: Profile, tz) -> pd.Series:
    """One calendar year of the profile in W, scaled so the year holds ``annual_kwh``."""
    index = pd.date_range(f"{year}-01-01", f"{year + 1}-01-01", freq=STEP, inclusive="left", tz=tz)
    local = index.tz_localize(None) if tz is not None else index
    shape = _h0_shape(local) if profile == "h0" else _h25_shape(local)
    energy_wh = shape.sum() * STEP.total_seconds() / 3600.0
    return pd.Series(shape * annual_kwh * 1000.0 / energy_wh, index=index, name="load_w")


def standard_load_w(annual_kwh: float, start: pd.Timestamp, horizon_s: float, profile: Profile = "h0") -> pd.Series:
    """Household load in W at 15-minute steps over ``[start, start + horizon_s)``.

    ``annual_kwh`` is the consumption of each calendar year (in ``start``'s time zone).
    """
    if not annual_kwh >= 0:
        raise InputError(f"load.annual_kwh: value {annual_kwh!r} is not allowed: must be >= 0")
    if profile not in ("h0", "h25"):
        raise InputError(f"load.profile: value {profile!r} is not allowed: one of 'h0', 'h25'")
    if not horizon_s > 0:
        raise InputError(f"horizon_s: value {horizon_s!r} is not allowed: must be > 0")
    start = pd.Timestamp(start)
    first, end = start.floor(STEP), start + pd.Timedelta(seconds=horizon_s)
    years = [_year_w(year, annual_kwh, profile, start.tzinfo) for year in range(first.year, end.year + 1)]
    series = pd.concat(years)
    series = series[(series.index >= first) & (series.index < end)]
    series.index = pd.DatetimeIndex(series.index, freq=STEP)
    return series


def stochastic_load_w(
    annual_kwh: float,
    start: pd.Timestamp,
    horizon_s: float,
    step_s: float = 60.0,
    seed: int = 0,
    profile: Profile = "h0",
    peak_share: float = 0.25,
) -> pd.Series:
    """Standard load at ``step_s`` with seeded noise and short appliance peaks, in W.

    A share ``peak_share`` of the energy moves into bursts of 1-3 kW lasting
    1-15 minutes (kettle, oven, washing machine heater), placed where the
    standard profile is high; the rest keeps the standard shape with +-30 %
    noise. The total energy equals the standard profile's over the horizon.
    """
    if not (step_s > 0 and 900 % step_s == 0):
        raise InputError(f"load.step_s: value {step_s!r} is not allowed: must divide 900 s (e.g. 60, 300, 900)")
    if not 0 <= peak_share < 1:
        raise InputError(f"load.peak_share: value {peak_share!r} is not allowed: must be >= 0 and < 1")
    base = standard_load_w(annual_kwh, start, horizon_s, profile)
    step = pd.Timedelta(seconds=step_s)
    index = pd.date_range(base.index[0], periods=len(base) * int(900 // step_s), freq=step)
    smooth_w = base.reindex(index, method="ffill").to_numpy()
    total_wh = smooth_w.sum() * step_s / 3600.0
    rng = np.random.default_rng(seed)

    peaks_w = np.zeros(len(index))
    if smooth_w.sum() > 0 and peak_share > 0:
        count = int(peak_share * total_wh / 100.0) + 16  # more than enough: a burst holds at least ~17 Wh
        at = rng.choice(len(index), size=count, p=smooth_w / smooth_w.sum())
        power_w = rng.uniform(1000.0, 3000.0, count)
        stop = np.minimum(at + np.maximum(1, np.round(rng.uniform(60.0, 900.0, count) / step_s)).astype(int), len(index))
        energy_wh = np.cumsum(power_w * (stop - at) * step_s / 3600.0)
        for i in range(int(np.searchsorted(energy_wh, peak_share * total_wh)) + 1):
            peaks_w[at[i] : stop[i]] += power_w[i]
        peaks_w *= min(1.0, peak_share * total_wh / (peaks_w.sum() * step_s / 3600.0))

    noisy_w = smooth_w * rng.uniform(0.7, 1.3, len(index))
    rest_wh = total_wh - peaks_w.sum() * step_s / 3600.0
    noisy_wh = noisy_w.sum() * step_s / 3600.0
    load_w = peaks_w + (noisy_w * max(rest_wh, 0.0) / noisy_wh if noisy_wh > 0 else 0.0)
    return pd.Series(load_w, index=index, name="load_w")
