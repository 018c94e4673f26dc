"""Plausibility of a household's power profile: warn on values that look like the wrong unit, refuse impossible ones.

Thresholds (documented in the README): a load whose median is below
``LOAD_MEDIAN_LOW_W`` or PV whose peak is below ``PV_PEAK_LOW_W`` looks like kW
read as W; a load median above ``LOAD_MEDIAN_HIGH_W`` or a PV peak above
``PV_PEAK_HIGH_W`` looks like W read as kW (or Wh as kWh). Those get one
warning line on standard error naming the field and the option that says so.
Any value above ``MAX_PROFILE_W`` cannot be a storage device's household and is
refused.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from socbal.errors import InputError

log = logging.getLogger("socbal.profiles")

LOAD_MEDIAN_LOW_W = 5.0
LOAD_MEDIAN_HIGH_W = 20_000.0
PV_PEAK_LOW_W = 20.0
PV_PEAK_HIGH_W = 100_000.0
MAX_PROFILE_W = 1e7  # ems.models.MAX_POWER_W: the largest power any field takes


def check_power(power_w: pd.Series, role: str, unit: str, where: str) -> None:
    """Warn when ``power_w`` (a load or PV profile read with ``unit``) looks like another unit; refuse the impossible."""
    values = power_w.to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return
    peak = float(values.max())
    if peak > MAX_PROFILE_W:
        raise InputError(
            f"{where}.unit: a peak of {peak:.4g} W is not allowed (at most {MAX_PROFILE_W:g} W); "
            f"check unit (now {unit!r}) and the column"
        )
    kilo = unit.startswith("k")
    other = unit[1:] if kilo else "k" + unit
    if role == "load":
        median = float(np.median(values))
        if not kilo and 0 < median < LOAD_MEDIAN_LOW_W:
            log.warning("%s.unit: median %.3g W: is this %s? then set unit = %r", where, median, other, other)
        elif median > LOAD_MEDIAN_HIGH_W:
            log.warning("%s.unit: median %.4g W for a household: is this %s? then set unit = %r", where, median, other, other)
    elif not kilo and 0 < peak < PV_PEAK_LOW_W:
        log.warning("%s.unit: peak %.3g W: is this %s? then set unit = %r", where, peak, other, other)
    elif peak > PV_PEAK_HIGH_W:
        log.warning("%s.unit: peak %.4g W for a household array: is this %s? then set unit = %r", where, peak, other, other)
