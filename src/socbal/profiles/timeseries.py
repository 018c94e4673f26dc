"""Import the user's own PV, load and grid-availability time series from CSV or Parquet.

The result is a DataFrame on a regular, time-zone-aware index with columns
``pv_w``, ``load_w`` (mean power in W over the interval starting at each
stamp) and ``grid_available`` (bool), plus a table of the gaps that were found.
Every problem raises ``socbal.errors.InputError`` with one line naming the
column or field, the value and what is allowed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from socbal.errors import InputError, describe_validation_error

_TO_W = {"W": 1.0, "kW": 1000.0, "Wh": 1.0, "kWh": 1000.0}
_TRUE = {"1", "1.0", "true", "yes", "on"}
_FALSE = {"0", "0.0", "false", "no", "off"}
_MAX_POINTS = 50_000_000


def known_zone(value: str) -> str:
    """``value`` if it names an IANA time zone, else ValueError (for pydantic validators)."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ValueError("must be an IANA time zone such as 'UTC' or 'Europe/Berlin'") from err
    return value


class ColumnSpec(BaseModel):
    """One power column of the file: its name and unit (W, kW: power; Wh, kWh: energy per interval)."""

    model_config = ConfigDict(extra="forbid")
    column: str
    unit: Literal["W", "kW", "Wh", "kWh"] = "W"


class TimeseriesSpec(BaseModel):
    """How to read a file: which columns hold what, the time zone, the step wanted and how to fill gaps.

    ``tz`` is the zone of naive stamps (stamps with an offset are converted to
    it); ``label`` says whether a stamp marks the start or the end of its
    interval; ``step_s`` resamples (None keeps the file's own step).
    """

    model_config = ConfigDict(extra="forbid")
    path: Path | None = None
    time_column: str = "time"
    time_format: str | None = None
    tz: str = "UTC"
    label: Literal["start", "end"] = "start"
    step_s: float | None = Field(default=None, gt=0)
    fill: Literal["interpolate", "zero", "error"] = "interpolate"
    pv: ColumnSpec | None = None
    load: ColumnSpec | None = None
    grid_available: str | None = None

    _known_zone = field_validator("tz")(known_zone)


@dataclass
class ImportedSeries:
    """What came out of a file: regular ``frame`` (pv_w, load_w in W; grid_available), ``gaps`` and ``step_s``.

    ``gaps`` has one row per run of missing values: column, start, end (first
    and last missing stamp), missing_s.
    """

    frame: pd.DataFrame
    gaps: pd.DataFrame
    step_s: float

    def gap_report(self) -> str:
        """One line per gap, or a line saying there were none."""
        if self.gaps.empty:
            return "no gaps"
        return "\n".join(
            f"{row.column}: missing from {row.start} to {row.end} ({row.missing_s / 3600:.2f} h)"
            for row in self.gaps.itertuples()
        )


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a ``.csv`` or ``.parquet`` file into a DataFrame (a DatetimeIndex becomes a column)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise InputError(f"timeseries.path: value {str(path)!r} is not allowed: the file must end in .csv or .parquet")
    if not path.is_file():
        raise InputError(f"timeseries.path: value {str(path)!r} is not allowed: no such file")
    try:
        frame = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    except Exception as err:  # parser errors come in many types
        raise InputError(f"timeseries.path: file {str(path)!r} could not be read: {err}") from err
    if isinstance(frame.index, pd.DatetimeIndex):
        frame = frame.reset_index()
    return frame


def read_timeseries(spec: TimeseriesSpec | dict) -> ImportedSeries:
    """Read the file named by ``spec.path`` and import it (see ``import_frame``)."""
    spec = _validated(spec)
    if spec.path is None:
        raise InputError("timeseries.path: missing: this field is required")
    return import_frame(read_table(spec.path), spec)


def import_frame(raw: pd.DataFrame, spec: TimeseriesSpec | dict) -> ImportedSeries:
    """Map, convert, regularise, gap-check and resample a raw table as ``spec`` says."""
    spec = _validated(spec)
    if spec.pv is None and spec.load is None and spec.grid_available is None:
        raise InputError("timeseries: missing: map at least one of pv, load, grid_available to a column")
    stamps = _stamps(raw, spec)
    step = _native_step(stamps, spec.time_column)
    if spec.label == "end":
        stamps = stamps - step
    data = {}
    for name, col in (("pv_w", spec.pv), ("load_w", spec.load)):
        if col is not None:
            values_w = _numbers(raw, col.column) * _TO_W[col.unit]
            if col.unit in ("Wh", "kWh"):
                values_w = values_w * 3600.0 / step.total_seconds()
            data[name] = _checked_power(values_w, name, col.column, stamps)
    if spec.grid_available is not None:
        data["grid_available"] = _flags(raw, spec.grid_available)
    frame = pd.DataFrame(data, index=pd.DatetimeIndex(stamps))
    grid = pd.date_range(frame.index[0], frame.index[-1], freq=step)
    frame = frame.reindex(grid)
    gaps = _gaps(frame, step)
    frame = _filled(frame, spec.fill, gaps)
    target = pd.Timedelta(seconds=spec.step_s) if spec.step_s else step
    frame = _resampled(frame, step, target)
    return ImportedSeries(frame=frame, gaps=gaps, step_s=target.total_seconds())


def _validated(spec: TimeseriesSpec | dict) -> TimeseriesSpec:
    if isinstance(spec, TimeseriesSpec):
        return spec
    try:
        return TimeseriesSpec.model_validate(spec)
    except ValidationError as err:
        raise InputError(describe_validation_error(err, "timeseries")) from None


def _column(raw: pd.DataFrame, name: str) -> pd.Series:
    if name not in raw.columns:
        have = ", ".join(map(str, raw.columns))
        raise InputError(f"timeseries: column {name!r} is not in the file; columns there: {have}")
    return raw[name]


def _stamps(raw: pd.DataFrame, spec: TimeseriesSpec) -> pd.DatetimeIndex:
    """Parsed, time-zone-aware, sorted and unique stamps of the time column."""
    text = _column(raw, spec.time_column)
    if len(text) < 2:
        raise InputError(f"timeseries column {spec.time_column!r}: {len(text)} rows is not allowed: need at least 2")
    stamps = pd.to_datetime(text, format=spec.time_format, errors="coerce", utc=False)
    bad = stamps.isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            f"timeseries column {spec.time_column!r}: value {text.iloc[row]!r} in row {row + 2} is not a time; "
            "allowed: ISO 8601 like '2024-05-01 12:00' or the format given in time_format"
        )
    index = pd.DatetimeIndex(stamps)
    if index.tz is None:
        try:
            index = index.tz_localize(spec.tz, ambiguous="infer", nonexistent="shift_forward")
        except Exception as err:
            raise InputError(
                f"timeseries column {spec.time_column!r}: local times in {spec.tz} are ambiguous at a DST change "
                f"({err}); allowed: stamps with a UTC offset or in a zone without DST (tz = 'UTC')"
            ) from err
    else:
        index = index.tz_convert(spec.tz)
    if not index.is_monotonic_increasing:
        raise InputError(f"timeseries column {spec.time_column!r}: stamps are not in order; allowed: rising times")
    if index.has_duplicates:
        twice = index[index.duplicated()][0]
        raise InputError(f"timeseries column {spec.time_column!r}: value {str(twice)!r} occurs twice; allowed: unique times")
    return index


def _native_step(stamps: pd.DatetimeIndex, column: str) -> pd.Timedelta:
    """The file's step: the most common spacing of its stamps."""
    diffs = pd.Series(np.diff(stamps.as_unit("ns").asi8))
    step = pd.Timedelta(int(diffs.mode().iloc[0]), unit="ns").as_unit("s")
    if step < pd.Timedelta(seconds=1):
        raise InputError(f"timeseries column {column!r}: step {step} is not allowed: must be at least 1 s")
    if ((diffs % step.value) != 0).any():
        raise InputError(f"timeseries column {column!r}: stamps are not on a {step} grid; allowed: a regular step with gaps")
    return step


def _numbers(raw: pd.DataFrame, name: str) -> pd.Series:
    text = _column(raw, name)
    values = pd.to_numeric(text, errors="coerce")
    bad = values.isna() & text.notna() & (text.astype(str).str.strip() != "")
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"timeseries column {name!r}: value {text.iloc[row]!r} in row {row + 2} is not a number")
    return values.astype(float).reset_index(drop=True)


def _checked_power(values_w: pd.Series, name: str, column: str, stamps: pd.DatetimeIndex) -> np.ndarray:
    """Load must be >= 0; PV's small negative night readings become 0."""
    values = values_w.to_numpy()
    if name == "pv_w":
        return np.where(values < 0, 0.0, values)
    negative = np.flatnonzero(values < 0)
    if len(negative):
        i = int(negative[0])
        raise InputError(f"timeseries column {column!r}: value {values[i]:g} W at {stamps[i]} is not allowed: load must be >= 0")
    return values


def _flags(raw: pd.DataFrame, name: str) -> np.ndarray:
    """Grid availability as 1.0/0.0 (NaN where empty)."""
    text = _column(raw, name)
    if text.dtype == bool:
        return text.to_numpy(float)
    words = text.astype(str).str.strip().str.lower()
    flags = np.where(words.isin(_TRUE), 1.0, np.where(words.isin(_FALSE), 0.0, np.nan))
    bad = np.isnan(flags) & text.notna().to_numpy() & (words != "").to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"timeseries column {name!r}: value {text.iloc[row]!r} in row {row + 2} is not allowed: "
            "one of 1/0, true/false, yes/no, on/off"
        )
    return flags


def _gaps(frame: pd.DataFrame, step: pd.Timedelta) -> pd.DataFrame:
    """Runs of missing values per column: column, start, end, missing_s."""
    rows = []
    for name in frame.columns:
        missing = frame[name].isna().to_numpy()
        edges = np.diff(np.concatenate(([0], missing.astype(int), [0])))
        for first, stop in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
            rows.append((name, frame.index[first], frame.index[stop - 1], (stop - first) * step.total_seconds()))
    return pd.DataFrame(rows, columns=["column", "start", "end", "missing_s"])


def _filled(frame: pd.DataFrame, fill: str, gaps: pd.DataFrame) -> pd.DataFrame:
    if gaps.empty:
        return frame
    if fill == "error":
        first = gaps.iloc[0]
        raise InputError(
            f"timeseries column {first.column!r}: {len(gaps)} gap(s), the first from {first.start} to {first.end}; "
            "allowed with fill = 'interpolate' or 'zero'"
        )
    frame = frame.copy()
    for name in frame.columns:
        if fill == "zero":
            frame[name] = frame[name].fillna(0.0)
        elif name == "grid_available":
            frame[name] = frame[name].ffill().bfill()
        else:
            frame[name] = frame[name].interpolate(method="time").bfill()
    return frame


def _resampled(frame: pd.DataFrame, step: pd.Timedelta, target: pd.Timedelta) -> pd.DataFrame:
    """Hold each value over its interval, then average over the target intervals (energy kept)."""
    fine = pd.Timedelta(seconds=math.gcd(int(step.total_seconds()), int(target.total_seconds())))
    if target.total_seconds() != int(target.total_seconds()):
        raise InputError(f"timeseries.step_s: value {target.total_seconds()!r} is not allowed: whole seconds only")
    if len(frame) * (step / fine) > _MAX_POINTS:
        raise InputError(
            f"timeseries.step_s: value {target.total_seconds():g} is not allowed: with the file's step "
            f"{step.total_seconds():g} s it needs a common step of {fine.total_seconds():g} s; pick a multiple or divisor"
        )
    end = frame.index[-1] + step
    if fine < step:
        frame = frame.reindex(pd.date_range(frame.index[0], end, freq=fine, inclusive="left"), method="ffill")
    out = frame.resample(target, origin="start").mean()
    if "grid_available" in out:
        out["grid_available"] = frame["grid_available"].resample(target, origin="start").min().astype(bool)
    out.index = pd.DatetimeIndex(out.index, freq=target)
    return out
