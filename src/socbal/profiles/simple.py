"""Simple built-in profiles: constant power and synthetic daily shapes.

Every profile spec has ``series(start, horizon_s)`` returning a pandas Series of
power in W on a regular DatetimeIndex at the profile's own step; the simulator
holds each value for its interval.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from socbal.profiles.checks import plausible_kwh_per_day
from socbal.validation import StrictModel

#: Share of a day's household energy in each hour (a typical evening-peaked residential shape).
HOUSEHOLD_HOURLY_SHAPE = np.array(
    [2.6, 2.3, 2.2, 2.1, 2.2, 2.8, 4.0, 5.0, 4.6, 4.0, 3.9, 4.2, 4.7, 4.4, 3.9, 3.8, 4.2, 5.2, 6.6, 7.2, 6.8, 5.6, 4.3, 3.2]
)
HOUSEHOLD_HOURLY_SHAPE = HOUSEHOLD_HOURLY_SHAPE / HOUSEHOLD_HOURLY_SHAPE.sum()


def regular_index(start: pd.Timestamp, horizon_s: float, step_s: float) -> pd.DatetimeIndex:
    """Timestamps from ``start`` every ``step_s`` seconds covering ``horizon_s`` seconds."""
    periods = max(1, int(np.ceil(horizon_s / step_s)))
    return pd.date_range(pd.Timestamp(start), periods=periods, freq=pd.Timedelta(seconds=step_s))


class ConstantProfile(StrictModel):
    """The same power all the time."""

    kind: Literal["constant"] = "constant"
    power_w: float = Field(ge=0, le=1e6, description="Power, W")

    def series(self, start: pd.Timestamp, horizon_s: float) -> pd.Series:
        """Power in W: one value held over the whole horizon."""
        return pd.Series([self.power_w], index=regular_index(start, horizon_s, horizon_s), name="power_w")


class SyntheticHouseholdProfile(StrictModel):
    """A typical household day (evening peak), repeated, scaled to ``daily_kwh``."""

    kind: Literal["synthetic-household"] = "synthetic-household"
    daily_kwh: float = Field(8.0, gt=0, le=1000, description="Energy per day, kWh")
    _plausible_kwh = field_validator("daily_kwh")(plausible_kwh_per_day)

    def series(self, start: pd.Timestamp, horizon_s: float) -> pd.Series:
        """Hourly power in W."""
        index = regular_index(pd.Timestamp(start).floor("h"), horizon_s + 3600.0, 3600.0)
        power_w = HOUSEHOLD_HOURLY_SHAPE[index.hour] * self.daily_kwh * 1000.0
        return pd.Series(power_w, index=index, name="power_w")


class SyntheticClearSkyProfile(StrictModel):
    """A clear-sky PV day: half a sine wave between sunrise and sunset, repeated."""

    kind: Literal["synthetic-clear-sky"] = "synthetic-clear-sky"
    peak_w: float = Field(800.0, ge=0, le=1e6, description="Power at solar noon, W")
    sunrise_h: float = Field(6.0, ge=0, lt=24, description="Sunrise, hour of day")
    sunset_h: float = Field(20.0, gt=0, le=24, description="Sunset, hour of day")
    step_s: float = Field(900.0, ge=1, le=3600, description="Resolution of the profile, s")

    def series(self, start: pd.Timestamp, horizon_s: float) -> pd.Series:
        """Power in W at ``step_s`` resolution (value at the middle of each interval)."""
        index = regular_index(start, horizon_s, self.step_s)
        hour = index.hour + index.minute / 60.0 + (index.second + self.step_s / 2.0) / 3600.0
        phase = (hour - self.sunrise_h) / max(self.sunset_h - self.sunrise_h, 1e-9)
        power_w = np.where((phase > 0) & (phase < 1), self.peak_w * np.sin(np.pi * np.clip(phase, 0, 1)), 0.0)
        return pd.Series(power_w, index=index, name="power_w")
