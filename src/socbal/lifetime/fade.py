"""Capacity fade per pack from SOC and temperature trajectories, with NREL's BLAST-Lite cell models.

The trajectory (time in s, SOC in %, cell temperature in C) is repeated until
``years`` have passed (a year is 365 days, as in BLAST-Lite). Capacity comes
back as a fraction of the new pack's capacity, split into calendar and cycle
ageing: ``capacity_frac = 1 - (1 - calendar_frac) - (1 - cycle_frac)``.

Models: ``"lfp"`` is BLAST-Lite's Lfp_Gr_250AhPrismatic (large prismatic
LFP/graphite), ``"nmc"`` its Nmc811_GrSi_LGM50_5Ah_Battery (NMC811/graphite-Si).
BLAST-Lite is installed by hand: it pins numpy < 2, so after ``socbal[lifetime]``
(which brings its import-time dependencies h5pyd and geopy) run
``pip install --no-deps blast-lite`` (or ``socbal[blast]`` where numpy < 2 is fine); this module
supplies the one numpy function it misses (``np.trapz``) to BLAST-Lite's modules only.
"""

from __future__ import annotations

import sys
import types
from typing import Literal

import numpy as np
import pandas as pd

from socbal.errors import InputError
from socbal.lifetime.cycles import checked_soc_pct

Chemistry = Literal["lfp", "nmc"]
MODELS = {"lfp": "Lfp_Gr_250AhPrismatic", "nmc": "Nmc811_GrSi_LGM50_5Ah_Battery"}
_DAYS_PER_YEAR = 365.0


class _NumpyWithTrapz(types.ModuleType):
    """numpy as BLAST-Lite's modules expect it: numpy 2 renamed ``trapz`` to ``trapezoid``."""

    trapz = staticmethod(np.trapezoid)

    def __getattr__(self, name: str) -> object:
        return getattr(np, name)


def _blast_models() -> types.ModuleType:
    """``blast.models``, with ``np.trapz`` supplied to BLAST-Lite's modules under numpy 2."""
    try:
        import blast.models as models
    except ImportError as err:
        raise ImportError(
            "capacity fade needs NREL's BLAST-Lite: pip install 'socbal[lifetime]' && pip install --no-deps 'blast-lite>=1.1' "
            "(it pins numpy < 2; --no-deps keeps numpy 2)"
        ) from err
    if not hasattr(np, "trapz"):
        compat = _NumpyWithTrapz("numpy_for_blast")
        for name, module in list(sys.modules.items()):
            if name.startswith("blast.") and getattr(module, "np", None) is np:
                setattr(module, "np", compat)
    return models


def _inputs(time_s, soc_pct, temperature_c) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Checked float arrays; temperature may be one number."""
    time = np.asarray(time_s, dtype=float).ravel()
    soc = checked_soc_pct(soc_pct)
    temp = np.asarray(temperature_c, dtype=float).ravel()
    if temp.size == 1:
        temp = np.full(len(time), temp[0])
    if len(time) < 2:
        raise InputError(f"time_s: {len(time)} samples is not allowed: need at least 2")
    for name, values in (("soc_pct", soc), ("temperature_c", temp)):
        if len(values) != len(time):
            raise InputError(f"{name}: length {len(values)} is not allowed: must equal len(time_s) = {len(time)}")
    if not (np.diff(time) > 0).all():
        i = int(np.flatnonzero(~(np.diff(time) > 0))[0]) + 1
        raise InputError(f"time_s[{i}]: value {float(time[i])!r} is not allowed: times must rise")
    bad = np.flatnonzero(~((temp >= -40) & (temp <= 80)))
    if len(bad):
        raise InputError(f"temperature_c[{bad[0]}]: value {float(temp[bad[0]])!r} is not allowed: must be -40 to 80")
    return time - time[0], soc / 100.0, temp


def fade_trajectory(time_s, soc_pct, temperature_c, years: float, chemistry: Chemistry = "lfp") -> pd.DataFrame:
    """Capacity over time: index ``years``; columns capacity_frac, calendar_frac, cycle_frac (1 = new)."""
    if chemistry not in MODELS:
        raise InputError(f"chemistry: value {chemistry!r} is not allowed: one of {', '.join(map(repr, MODELS))}")
    if not years > 0:
        raise InputError(f"years: value {years!r} is not allowed: must be > 0")
    time, soc, temp = _inputs(time_s, soc_pct, temperature_c)
    model = getattr(_blast_models(), MODELS[chemistry])()
    constant = bool(np.ptp(soc) == 0 and np.ptp(temp) == 0)
    model.simulate_battery_life(
        {"Time_s": time, "SOC": soc, "Temperature_C": temp}, threshold_time=years, is_constant_input=constant
    )
    out = model.outputs
    return pd.DataFrame(
        {"capacity_frac": out["q"], "calendar_frac": out["q_t"], "cycle_frac": out["q_EFC"]},
        index=pd.Index(np.asarray(model.stressors["t_days"]) / _DAYS_PER_YEAR, name="years"),
    )


def capacity_after(time_s, soc_pct, temperature_c, years: float, chemistry: Chemistry = "lfp") -> pd.Series:
    """capacity_frac, calendar_frac and cycle_frac after exactly ``years`` (interpolated)."""
    trajectory = fade_trajectory(time_s, soc_pct, temperature_c, years, chemistry)
    return pd.Series({name: float(np.interp(years, trajectory.index, trajectory[name])) for name in trajectory})


def pack_capacity(
    soc_pct: pd.DataFrame, step_s: float, years: float, temperature_c: float | pd.DataFrame = 25.0, chemistry: Chemistry = "lfp"
) -> pd.DataFrame:
    """One row per pack (a column of ``soc_pct``, one sample every ``step_s``): capacity after ``years``.

    ``temperature_c`` is one cell temperature for all, or a DataFrame with the same columns.
    """
    if not step_s > 0:
        raise InputError(f"step_s: value {step_s!r} is not allowed: must be > 0")
    time_s = np.arange(len(soc_pct)) * float(step_s)
    rows = {}
    for pack in soc_pct.columns:
        if isinstance(temperature_c, pd.DataFrame):
            if pack not in temperature_c.columns:
                raise InputError(f"temperature_c: pack {pack!r} has no column; columns there: {list(temperature_c.columns)}")
            temp = temperature_c[pack].to_numpy(float)
        else:
            temp = temperature_c
        rows[pack] = capacity_after(time_s, soc_pct[pack].to_numpy(float), temp, years, chemistry)
    return pd.DataFrame(rows).T.rename_axis("pack")
