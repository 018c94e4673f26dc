"""Plausibility of a household's power profile: warn on values that look like the wrong unit, refuse impossible ones.

Thresholds (documented in the README): a load whose median is below
``LOAD_MEDIAN_LOW_W`` or PV whose peak is below ``PV_PEAK_LOW_W`` looks like kW
read as W; a load median above ``LOAD_MEDIAN_HIGH_W`` or a PV peak above
``PV_PEAK_HIGH_W`` looks like W read as kW (or Wh as kWh). Those get one
warning line on standard error naming the field and the option that says so.
Any value above ``MAX_PROFILE_W`` cannot be a storage device's household and is
refused.

A power column that only rises is a running energy total (a meter reading) read as power.
Values of the right unit can still be implausible; each gets one warning line:
a load of more than ``LOAD_KWH_PER_DAY_HIGH`` a day (far beyond a home: another
column, or a building's meter), PV above ``PV_OVER_KWP_SHARE`` of the array's
``kwp`` (another array's file, or kWp given in W), and PV whose average day peaks
outside ``PV_PEAK_HOURS`` in the file's zone (stamps in another time zone).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from pydantic import ValidationInfo

from socbal.errors import InputError

log = logging.getLogger("socbal.profiles")

LOAD_MEDIAN_LOW_W = 5.0
LOAD_MEDIAN_HIGH_W = 20_000.0
PV_PEAK_LOW_W = 20.0
PV_PEAK_HIGH_W = 100_000.0
MAX_PROFILE_W = 1e7  # ems.models.MAX_POWER_W: the largest power any field takes
LOAD_KWH_PER_DAY_HIGH = 100.0  # a large home with a heat pump and an EV uses 30-60 kWh a day
PV_OVER_KWP_SHARE = 1.3  # AC or DC above 130 % of the STC rating: not this array
PV_PEAK_HOURS = (9, 17)  # the hour of day the average PV day peaks in, local time (east/west arrays, DST, wide zones)
RISING_MIN_STEPS = 24  # a power column that never falls over this many steps is a meter reading
PV_KWP_HIGH = 100.0  # a home's array above this many kWp is likely given in Wp


def check_power(power_w: pd.Series, role: str, unit: str, where: str, kwp: float | None = None, table: bool = False) -> None:
    """Warn when ``power_w`` (a load or PV profile read with ``unit``, of an array of ``kwp``; from a ``table``,
    where Wh/kWh are each interval's energy, or from a Home Assistant export, where they are a running total) looks
    like another unit or is implausible for a home; refuse the impossible."""
    values = power_w.to_numpy(dtype=float)
    finite = np.isfinite(values)
    values = values[finite]
    if len(values) == 0:
        return
    peak = float(values.max())
    if peak == 0:
        log.warning("%s.column: the %s is 0 throughout: is this the right column?", where, "load" if role == "load" else "PV")
        return
    if peak > MAX_PROFILE_W:
        raise InputError(
            f"{where}.unit: a peak of {peak:.4g} W is not allowed (at most {MAX_PROFILE_W:g} W); "
            f"check unit (now {unit!r}) and the column"
        )
    kilo = unit.startswith("k")
    other = unit[1:] if kilo else "k" + unit
    steps = np.diff(values)
    rising = len(steps) >= RISING_MIN_STEPS and np.all(steps >= 0) and np.mean(steps > 0) > 0.5
    if rising and (unit in ("W", "kW") or table):
        if unit in ("W", "kW"):
            scale, shown = (1000.0, "kW") if kilo else (1.0, "W")
        else:
            scale, shown = 1.0, "W as read"
        # a table has no running-total unit: its Wh and kWh are each interval's energy
        advice = (
            "a table's Wh and kWh are each interval's energy: give the reading's differences, unit = 'kWh' or 'Wh'"
            if table
            else "then set unit = 'kWh' or 'Wh', as the meter counts"
        )
        log.warning(
            "%s.unit: the column only rises (%.4g to %.4g %s): is it a running energy total? %s",
            where, values[0] / scale, values[-1] / scale, shown, advice,
        )  # fmt: skip
        return
    # a table's small W values may be each interval's kWh as well as kW
    low_hint = "is this kW, or each interval's kWh? then set unit = 'kW' or 'kWh'" if table and unit == "W" else None
    if role == "load":
        median = float(np.median(values))
        if not kilo and 0 < median < LOAD_MEDIAN_LOW_W:
            hint = low_hint or f"is this {other}? then set unit = {other!r}"
            log.warning("%s.unit: median %.3g W: %s", where, median, hint)
        elif median > LOAD_MEDIAN_HIGH_W:
            log.warning("%s.unit: median %.4g W for a household: is this %s? then set unit = %r", where, median, other, other)
        elif values.mean() * 24 / 1000 > LOAD_KWH_PER_DAY_HIGH:
            log.warning(
                "%s.column: %.4g kWh a day (mean %.4g W) is far beyond a home (at most %g): check column and unit (now %r)",
                where, values.mean() * 24 / 1000, values.mean(), LOAD_KWH_PER_DAY_HIGH, unit,
            )  # fmt: skip
        return
    if not kilo and 0 < peak < PV_PEAK_LOW_W:
        log.warning("%s.unit: peak %.3g W: %s", where, peak, low_hint or f"is this {other}? then set unit = {other!r}")
    elif peak > PV_PEAK_HIGH_W:
        log.warning("%s.unit: peak %.4g W for a household array: is this %s? then set unit = %r", where, peak, other, other)
    elif kwp is not None and peak > PV_OVER_KWP_SHARE * kwp * 1000:
        log.warning(
            "%s.kwp: the file peaks at %.4g W, above %g %% of the array's kwp = %g: is kwp right, or the file another array's?",
            where, peak, 100 * PV_OVER_KWP_SHARE, kwp,
        )  # fmt: skip
    else:  # one warning a profile: the unit first
        _check_pv_peak_hour(power_w[finite], where)


def _check_pv_peak_hour(power_w: pd.Series, where: str) -> None:
    """Warn when the average day of PV (at least one whole day of data) peaks outside :data:`PV_PEAK_HOURS`."""
    index = power_w.index
    if not isinstance(index, pd.DatetimeIndex) or len(index) < 2 or index[-1] - index[0] < pd.Timedelta(days=1):
        return
    by_hour = power_w.groupby(index.hour).mean()
    if not by_hour.max() > 0:
        return
    hour = int(by_hour.idxmax())
    if not PV_PEAK_HOURS[0] <= hour < PV_PEAK_HOURS[1]:
        log.warning(
            "%s.tz: the average day of PV peaks at %02d:00 in %s, not between %02d:00 and %02d:00: are the stamps in "
            "another time zone? then set tz",
            where, hour, index.tz or "the file's time", *PV_PEAK_HOURS,
        )  # fmt: skip


def plausible_kwp(kwp: float | None, info: ValidationInfo) -> float | None:
    """A pydantic field validator: warn when an array's kWp looks like Wp (above :data:`PV_KWP_HIGH`)."""
    if kwp is not None and kwp > PV_KWP_HIGH:
        log.warning("pv.%s: %g kWp for a household array: is this Wp? then give %g", info.field_name, kwp, kwp / 1000)
    return kwp


def plausible_kwh_per_year(kwh: float | None, info: ValidationInfo) -> float | None:
    """A pydantic field validator: warn when a yearly load is far beyond a home (Wh given as kWh)."""
    if kwh is not None and kwh / 365 > LOAD_KWH_PER_DAY_HIGH:
        log.warning(
            "load.%s: %g kWh a year (%.4g kWh a day) is far beyond a home (at most %g a day): is this Wh? then give %g",
            info.field_name, kwh, kwh / 365, LOAD_KWH_PER_DAY_HIGH, kwh / 1000,
        )  # fmt: skip
    return kwh


def plausible_kwh_per_day(kwh: float, info: ValidationInfo) -> float:
    """A pydantic field validator: warn when a daily load is far beyond a home."""
    if kwh > LOAD_KWH_PER_DAY_HIGH:
        log.warning("load.%s: %g kWh a day is far beyond a home (at most %g)", info.field_name, kwh, LOAD_KWH_PER_DAY_HIGH)
    return kwh
