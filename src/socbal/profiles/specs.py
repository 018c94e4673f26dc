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
from pydantic import Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from socbal.errors import InputError
from socbal.profiles.checks import check_power, plausible_kwh_per_year, plausible_kwp
from socbal.profiles.load import standard_load_w, stochastic_load_w
from socbal.profiles.pv import BUNDLED_WEATHER, PvArray, Site, in_start_tz, pv_clearsky_w, pv_tmy_w
from socbal.profiles.timeseries import (
    ColumnSpec,
    FileFormat,
    ImportedSeries,
    TimeseriesSpec,
    Unit,
    gap_summary,
    import_frame,
    known_zone,
    note_gaps,
    read_table,
    resolve_path,
    weekly_repeat,
)
from socbal.validation import FilePath, StrictModel


class _ArraySpec(StrictModel):
    kwp: float = Field(gt=0, description="DC peak power at STC, kWp")
    tilt_deg: float = Field(default=30.0, ge=0, le=90)
    azimuth_deg: float = Field(default=180.0, ge=0, le=360, description="180 = south")
    inverter_ac_w: float | None = Field(default=None, gt=0, description="AC limit, W; None: kwp")
    losses_pct: float = Field(default=14.0, ge=0, lt=100)
    output: Literal["ac", "dc"] = "ac"
    _plausible_kwp = field_validator("kwp")(plausible_kwp)

    def array(self) -> PvArray:
        """The plain PvArray these fields describe."""
        return PvArray(self.kwp, self.tilt_deg, self.azimuth_deg, self.inverter_ac_w, self.losses_pct)


class PvlibPvSpec(_ArraySpec):
    """PV from a typical-year weather file (bundled name, or a TMY3, EPW or PVGIS TMY path), hourly, repeated each year."""

    kind: Literal["pvlib"] = "pvlib"
    weather: str = "greensboro"

    @field_validator("weather")
    @classmethod
    def _file_relative_to_scenario(cls, weather: str, info: ValidationInfo) -> str:
        """A weather file path (not a bundled name) is relative to the scenario file's folder."""
        base_dir = (info.context or {}).get("base_dir")
        if weather in BUNDLED_WEATHER or base_dir is None or Path(weather).is_absolute():
            return weather
        return str(Path(base_dir) / weather)

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


class _ColumnSource(FileFormat):
    """One column of the user's own data (see ``socbal.profiles.timeseries``) as a profile in W.

    ``shift_to_year`` repeats the data in whole weeks to cover the run (a
    measured year reused for the scenario's year, weekdays kept).
    """

    _role: ClassVar[str]
    column: str
    unit: Unit = "W"
    shift_to_year: bool = False
    _imported: ImportedSeries | None = PrivateAttr(default=None)

    def raw_table(self) -> pd.DataFrame:
        """The table the column is read from."""
        raise NotImplementedError

    def factor(self, power_w: pd.Series) -> float:
        """Scale applied to the whole column (1: none)."""
        return 1.0

    def nameplate_kwp(self) -> float | None:
        """The PV array's rating the data was measured on, kWp (None: not given, or not PV)."""
        return None

    def imported(self, run_start: pd.Timestamp) -> ImportedSeries:
        """The column read, on a regular grid, with its gaps (read once per spec); messages give stamps in the
        zone of ``run_start`` (see :meth:`FileFormat.show_in`)."""
        if self._imported is None:
            fields = self.model_dump(include=set(FileFormat.model_fields))
            fields[self._role] = ColumnSpec(column=self.column, unit=self.unit)
            spec = TimeseriesSpec.model_validate(fields)
            self._imported = import_frame(self.raw_table(), spec, self._role, run_start)
        return self._imported

    def gaps_in(self, start: pd.Timestamp, horizon_s: float) -> dict:
        """The gaps a run over ``[start, start + horizon_s)`` meets, as :func:`gap_summary` gives them."""
        imported = self.imported(start)
        gaps = imported.gaps
        given = pd.Timestamp(start)
        start = given.tz_localize(self.tz) if given.tzinfo is None else given
        end = start + pd.Timedelta(seconds=horizon_s)
        if not self.shift_to_year:
            gaps = gaps[(gaps["end"] > start) & (gaps["start"] < end)]
        return gap_summary(gaps, imported.spec)

    def series(self, start: pd.Timestamp, horizon_s: float) -> pd.Series:
        """The column in W over the window; the data must cover it (or ``shift_to_year``)."""
        imported = self.imported(start)
        name = f"{self._role}_w"
        column = imported.frame[name]
        # in the run's zone: the PV peak hour is checked in the local time the run is in, not in UTC
        zoned = column.tz_convert(imported.spec.shown_zone())
        check_power(zoned, self._role, self.unit, self._role, self.nameplate_kwp(), table=imported.format == "table")
        given = pd.Timestamp(start)
        start = given.tz_localize(self.tz) if given.tzinfo is None else given
        end = start + pd.Timedelta(seconds=horizon_s)
        step = pd.Timedelta(column.index.freq)
        if self.shift_to_year:
            note_gaps(imported.gaps, self._role, step, imported.spec)
            window = weekly_repeat(column, start, end)
        else:
            window = imported.window(name, start, end)
        return in_start_tz(window * self.factor(column), given, step)


class _FileSpec(_ColumnSource):
    """One column of the user's own CSV/TXT/Parquet file or Home Assistant export."""

    kind: Literal["file"] = "file"
    path: FilePath
    _relative_to_scenario = field_validator("path")(resolve_path)

    def raw_table(self) -> pd.DataFrame:
        """The file's table."""
        return read_table(self.path, self, self._role)


class _SeriesSpec(_ColumnSource):
    """A pandas Series of power given from Python (``socbal.simulate(load=...)``), read like a file's column.

    The Series itself is not part of the scenario's saved JSON; a naive index is read in ``tz``.
    """

    kind: Literal["series"] = "series"
    column: str = "value"
    _data: pd.Series | None = PrivateAttr(default=None)

    @classmethod
    def of(cls, data: pd.Series, **options) -> "_SeriesSpec":
        """A spec holding ``data`` (values in ``unit``, DatetimeIndex)."""
        if not isinstance(data, pd.Series) or not isinstance(data.index, pd.DatetimeIndex):
            raise InputError(f"{cls._role}: a pandas Series with a DatetimeIndex is needed, got {type(data).__name__}")
        spec = cls(**options)
        spec._data = data
        return spec

    def raw_table(self) -> pd.DataFrame:
        """The Series as a two-column table (time as ISO text with its offset, value)."""
        if self._data is None:
            raise InputError(f"{self._role}.kind: 'series' is given from Python only (socbal.simulate({self._role}=...))")
        stamps = pd.Series(self._data.index.astype("string"), dtype="string")
        return pd.DataFrame({self.time_column: stamps.to_numpy(), self.column: self._data.to_numpy(dtype=float)})


def input_gaps(load: object, pv: object, start: pd.Timestamp, horizon_s: float) -> dict:
    """Gaps the run meets in the user's load and PV data, by section (for summary.json); {} for other profiles."""
    return {
        name: spec.gaps_in(start, horizon_s) for name, spec in (("load", load), ("pv", pv)) if isinstance(spec, _ColumnSource)
    }


class FilePvSpec(_FileSpec):
    """PV power from the user's file; small negative readings become 0.

    ``kwp`` is the size of the array the file was measured on; with
    ``scale_to_kwp`` the power is scaled to an array of that size.
    """

    _role = "pv"
    kwp: float | None = Field(default=None, gt=0)
    scale_to_kwp: float | None = Field(default=None, gt=0)
    _plausible_kwp = field_validator("kwp", "scale_to_kwp")(plausible_kwp)

    @model_validator(mode="after")
    def _kwp_for_scaling(self) -> "FilePvSpec":
        if self.scale_to_kwp is not None and self.kwp is None:
            raise ValueError("scale_to_kwp needs kwp, the size of the array the file was measured on")
        return self

    def nameplate_kwp(self) -> float | None:
        """``kwp``: the array the file was measured on."""
        return self.kwp

    def factor(self, power_w: pd.Series) -> float:
        """``scale_to_kwp / kwp``, or 1."""
        return self.scale_to_kwp / self.kwp if self.scale_to_kwp is not None and self.kwp else 1.0


class FileLoadSpec(_FileSpec):
    """Household load from the user's file; negative values are an error.

    With ``scale_to_kwh_per_year`` the load is scaled so that the file's mean
    power, over a year, gives that consumption.
    """

    _role = "load"
    scale_to_kwh_per_year: float | None = Field(default=None, ge=0)
    _plausible_kwh = field_validator("scale_to_kwh_per_year")(plausible_kwh_per_year)

    def factor(self, power_w: pd.Series) -> float:
        """Target annual energy over the file's mean power times a year, or 1."""
        return load_factor(self.scale_to_kwh_per_year, power_w)


def load_factor(kwh_per_year: float | None, power_w: pd.Series) -> float:
    """Factor that makes ``power_w``'s mean give ``kwh_per_year`` (1 when None)."""
    if kwh_per_year is None:
        return 1.0
    mean_w = float(power_w.mean())
    if not mean_w > 0:
        raise InputError("load.scale_to_kwh_per_year: the file's load is 0 throughout; nothing to scale")
    return kwh_per_year * 1000.0 / (mean_w * 8760.0)


class SeriesPvSpec(_SeriesSpec):
    """PV power in W from a pandas Series."""

    _role = "pv"


class SeriesLoadSpec(_SeriesSpec):
    """Household load in W from a pandas Series."""

    _role = "load"


class BdewLoadSpec(StrictModel):
    """BDEW standard household load profile (H0 or its 2025 revision H25) scaled to ``annual_kwh``."""

    kind: Literal["bdew-h0", "bdew-h25"] = "bdew-h0"
    annual_kwh: float = Field(ge=0)
    _plausible_kwh = field_validator("annual_kwh")(plausible_kwh_per_year)

    def series(self, start: pd.Timestamp, horizon_s: float) -> pd.Series:
        """Load in W at 15-minute steps."""
        return standard_load_w(self.annual_kwh, start, horizon_s, "h0" if self.kind == "bdew-h0" else "h25")


class StochasticLoadSpec(StrictModel):
    """BDEW profile with seeded noise and short appliance peaks, at ``step_s``."""

    kind: Literal["stochastic"] = "stochastic"
    annual_kwh: float = Field(ge=0)
    _plausible_kwh = field_validator("annual_kwh")(plausible_kwh_per_year)
    step_s: float = Field(default=60.0, gt=0)
    seed: int = 0
    profile: Literal["h0", "h25"] = "h0"
    peak_share: float = Field(default=0.25, ge=0, lt=1)

    def series(self, start: pd.Timestamp, horizon_s: float) -> pd.Series:
        """Load in W at ``step_s``."""
        return stochastic_load_w(self.annual_kwh, start, horizon_s, self.step_s, self.seed, self.profile, self.peak_share)


PvSpec = Annotated[Union[PvlibPvSpec, ClearSkyPvSpec, FilePvSpec, SeriesPvSpec], Field(discriminator="kind")]
LoadSpec = Annotated[Union[BdewLoadSpec, StochasticLoadSpec, FileLoadSpec, SeriesLoadSpec], Field(discriminator="kind")]
