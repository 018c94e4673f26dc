"""Scenario sections ``[pv]`` and ``[load]``: validated specs that make profiles.

Each spec has a ``kind`` (the discriminator of ``PvSpec`` / ``LoadSpec``) and
``series(start, horizon_s)``, which returns power in W (positive: PV generates,
the household consumes) on a regular DatetimeIndex at the profile's own step,
covering ``[start, start + horizon_s)`` from the interval that holds ``start``.
Constant and synthetic profiles live in ``socbal.profiles.simple``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, ClassVar, Literal, Union

import pandas as pd
from pydantic import Field, ValidationInfo, field_validator

from socbal.errors import InputError
from socbal.profiles.load import standard_load_w, stochastic_load_w
from socbal.profiles.pv import PvArray, Site, in_start_tz, pv_clearsky_w, pv_tmy_w
from socbal.profiles.timeseries import known_zone, read_timeseries
from socbal.validation import FilePath, StrictModel


class _ArraySpec(StrictModel):
    kwp: float = Field(gt=0, description="DC peak power at STC, kWp")
    tilt_deg: float = Field(default=30.0, ge=0, le=90)
    azimuth_deg: float = Field(default=180.0, ge=0, le=360, description="180 = south")
    inverter_ac_w: float | None = Field(default=None, gt=0, description="AC limit, W; None: kwp")
    losses_pct: float = Field(default=14.0, ge=0, lt=100)
    output: Literal["ac", "dc"] = "ac"

    def array(self) -> PvArray:
        """The plain PvArray these fields describe."""
        return PvArray(self.kwp, self.tilt_deg, self.azimuth_deg, self.inverter_ac_w, self.losses_pct)


class PvlibPvSpec(_ArraySpec):
    """PV from a TMY weather file (bundled name or TMY3 path), hourly, repeated each year."""

    kind: Literal["pvlib"] = "pvlib"
    weather: str = "greensboro"

    def series(self, start: pd.Timestamp, horizon_s: float) -> pd.Series:
        """Hourly PV power in W."""
        return pv_tmy_w(self.array(), start, horizon_s, self.weather, self.output)


class ClearSkyPvSpec(_ArraySpec):
    """PV under clear sky at a given site and step."""

    kind: Literal["clearsky"] = "clearsky"
    latitude_deg: float = Field(ge=-90, le=90)
    longitude_deg: float = Field(ge=-180, le=180)
    altitude_m: float = 0.0
    tz: str = "UTC"
    step_s: float = Field(default=900.0, gt=0)
    temp_air_c: float = 20.0
    _known_zone = field_validator("tz")(known_zone)

    def series(self, start: pd.Timestamp, horizon_s: float) -> pd.Series:
        """PV power in W at ``step_s``."""
        site = Site(self.latitude_deg, self.longitude_deg, self.altitude_m, self.tz)
        return pv_clearsky_w(self.array(), site, start, horizon_s, self.step_s, self.temp_air_c, output=self.output)


def resolve_path(path: Path, info: ValidationInfo) -> Path:
    """A relative path is relative to the scenario file's folder (validation context ``base_dir``)."""
    base_dir = (info.context or {}).get("base_dir")
    return path if path.is_absolute() or base_dir is None else Path(base_dir) / path


class _FileSpec(StrictModel):
    """One column of the user's own CSV/Parquet file (see ``socbal.profiles.timeseries``)."""

    _role: ClassVar[str]
    kind: Literal["file"] = "file"
    path: FilePath
    column: str
    unit: Literal["W", "kW", "Wh", "kWh"] = "W"
    time_column: str = "time"
    time_format: str | None = None
    tz: str = "UTC"
    label: Literal["start", "end"] = "start"
    step_s: float | None = Field(default=None, gt=0)
    fill: Literal["interpolate", "zero", "error"] = "interpolate"
    _known_zone = field_validator("tz")(known_zone)
    _relative_to_scenario = field_validator("path")(resolve_path)

    def series(self, start: pd.Timestamp, horizon_s: float) -> pd.Series:
        """The column in W over the window; the file must cover it."""
        fields = self.model_dump(exclude={"kind", "column", "unit"})
        fields[self._role] = {"column": self.column, "unit": self.unit}
        series = read_timeseries(fields).frame[f"{self._role}_w"]
        given = pd.Timestamp(start)
        start = given.tz_localize(self.tz) if given.tzinfo is None else given
        end = start + pd.Timedelta(seconds=horizon_s)
        step = series.index.freq
        if start.floor(step) < series.index[0] or end > series.index[-1] + step:
            raise InputError(
                f"{self.path}: window {start} to {end} is not allowed: the file covers "
                f"{series.index[0]} to {series.index[-1] + step}"
            )
        window = series[(series.index >= start.floor(step)) & (series.index < end)].copy()
        return in_start_tz(window, given, step)


class FilePvSpec(_FileSpec):
    """PV power from the user's file; small negative readings become 0."""

    _role = "pv"


class FileLoadSpec(_FileSpec):
    """Household load from the user's file; negative values are an error."""

    _role = "load"


class BdewLoadSpec(StrictModel):
    """BDEW standard household load profile (H0 or its 2025 revision H25) scaled to ``annual_kwh``."""

    kind: Literal["bdew-h0", "bdew-h25"] = "bdew-h0"
    annual_kwh: float = Field(ge=0)

    def series(self, start: pd.Timestamp, horizon_s: float) -> pd.Series:
        """Load in W at 15-minute steps."""
        return standard_load_w(self.annual_kwh, start, horizon_s, "h0" if self.kind == "bdew-h0" else "h25")


class StochasticLoadSpec(StrictModel):
    """BDEW profile with seeded noise and short appliance peaks, at ``step_s``."""

    kind: Literal["stochastic"] = "stochastic"
    annual_kwh: float = Field(ge=0)
    step_s: float = Field(default=60.0, gt=0)
    seed: int = 0
    profile: Literal["h0", "h25"] = "h0"
    peak_share: float = Field(default=0.25, ge=0, lt=1)

    def series(self, start: pd.Timestamp, horizon_s: float) -> pd.Series:
        """Load in W at ``step_s``."""
        return stochastic_load_w(self.annual_kwh, start, horizon_s, self.step_s, self.seed, self.profile, self.peak_share)


PvSpec = Annotated[Union[PvlibPvSpec, ClearSkyPvSpec, FilePvSpec], Field(discriminator="kind")]
LoadSpec = Annotated[Union[BdewLoadSpec, StochasticLoadSpec, FileLoadSpec], Field(discriminator="kind")]
