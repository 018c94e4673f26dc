"""Import the user's own PV, load and grid-availability time series as people have them.

Reads CSV/TXT (also ``.gz``, ``.zip``, ``.bz2``, ``.xz``) with any separator and
decimal comma, Parquet, Home Assistant history exports and HA long-term
statistics. The result is a DataFrame on a regular, time-zone-aware index with
columns ``pv_w``, ``load_w`` (mean power in W over the interval starting at each
stamp) and ``grid_available`` (bool), plus a table of the gaps that were found.
Every problem raises ``socbal.errors.InputError`` with one line naming the
field or column, the value and what to set.

How a file is read is described once, by :class:`FileFormat`; the scenario's
``[load]``, ``[pv]`` and ``[grid.file]`` sections and :class:`TimeseriesSpec`
all extend it.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import logging
import lzma
import re
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
from pydantic import Field, PrivateAttr, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from socbal.errors import InputError, describe_validation_error
from socbal.validation import FilePath, StrictModel
from socbal.wording import count

log = logging.getLogger("socbal.profiles")

Unit = Literal["W", "kW", "Wh", "kWh"]
_TO_W = {"W": 1.0, "kW": 1000.0, "Wh": 1.0, "kWh": 1000.0}
_TRUE = {"1", "1.0", "true", "yes", "on"}
_FALSE = {"0", "0.0", "false", "no", "off"}
#: Cell texts read as "no value" besides pandas' own defaults (Home Assistant and logger exports use these).
MISSING_MARKERS = ("?", "-", "--", "unavailable", "unknown", "n/a", "N/A", "null", "none", "None", "")
TABLE_SUFFIXES = (".csv", ".txt", ".tsv", ".dat")
COMPRESSED_SUFFIXES: dict[str, Callable[..., Any]] = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
#: A gap is reported on standard error when it is longer than this many steps of the series.
REPORT_GAP_STEPS = 3
#: Default step of irregular event series (Home Assistant history) when step_s is not set, s.
EVENT_STEP_S = 300.0
_MAX_BINS = 50_000_000
#: PV readings down to this many W below 0 are an inverter's own night draw and read as 0; below it, refused, W.
PV_NIGHT_DRAW_W = 50.0


def known_zone(value: str) -> str:
    """``value`` if it names an IANA time zone, else ValueError (for pydantic validators)."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ValueError("must be an IANA time zone such as 'UTC' or 'Europe/Berlin'") from err
    return value


def resolve_path(path: Path, info) -> Path:
    """A relative path is relative to the scenario file's folder (validation context ``base_dir``); it must exist."""
    base_dir = (info.context or {}).get("base_dir")
    full = path if path.is_absolute() or base_dir is None else Path(base_dir) / path
    if not full.is_file():
        where = f" (relative to {base_dir})" if base_dir is not None and not path.is_absolute() else ""
        what = "is a folder, expected a file" if full.is_dir() else "not found"
        raise PydanticCustomError(
            "file_not_found", "file {path} {what}{where}", {"path": repr(str(path)), "what": what, "where": where}
        )
    return full


class FileFormat(StrictModel):
    """How a time-series file is laid out: the one definition of these fields.

    ``format``: ``auto`` detects a Home Assistant history export
    (``entity_id,state,last_changed``) or long-term statistics
    (``statistic_id,start,mean|sum``), else a plain table. ``time_column`` may
    name two columns (date and time). ``time_format`` (strftime codes) or
    ``dayfirst`` fix how dates read; without them the format is detected from the
    whole column. ``tz`` is the zone of naive stamps; ``ambiguous`` and
    ``nonexistent`` say how local times at a daylight-saving change resolve (as
    pandas' ``tz_localize``; ``NaT`` drops those rows, which then count as a gap).
    ``label`` says whether a stamp marks the start or the end of its interval.
    ``step_s`` resamples (None keeps a regular file's own step). ``fill`` says how
    gaps are filled; a gap longer than ``max_gap_h`` inside the run is refused.
    ``sep``/``decimal`` are detected when not given; ``na_values`` adds cell texts
    read as missing.
    """

    format: Literal["auto", "table", "home-assistant", "home-assistant-statistics"] = "auto"
    time_column: str | list[str] = "time"
    time_format: str | None = None
    dayfirst: bool | None = None
    tz: str = "UTC"
    ambiguous: Literal["infer", "NaT", "raise"] = "infer"
    nonexistent: Literal["shift_forward", "NaT", "raise"] = "shift_forward"
    label: Literal["start", "end"] = "start"
    step_s: float | None = Field(default=None, gt=0)
    fill: Literal["interpolate", "zero", "error"] = "interpolate"
    max_gap_h: float = Field(default=24.0, gt=0)
    sep: str | None = Field(default=None, min_length=1, max_length=1)
    decimal: Literal[".", ","] | None = None
    na_values: list[str] = Field(default_factory=list)
    _shown_tz: Any = PrivateAttr(default=None)  # the zone messages give stamps in (see show_in); None: as read

    _known_zone = field_validator("tz")(known_zone)

    def show_in(self, run_start: pd.Timestamp) -> None:
        """Give stamps in messages in the run's zone: ``run_start``'s, or ``tz`` for a naive start (read in it)."""
        self._shown_tz = pd.Timestamp(run_start).tzinfo or self.tz

    def shown_zone(self) -> Any:
        """The zone :meth:`show_in` chose (the run's), else ``tz``."""
        return self._shown_tz if self._shown_tz is not None else self.tz

    def shown(self, stamp: pd.Timestamp) -> str:
        """``stamp`` as messages give it: in the zone :meth:`show_in` chose, with its offset."""
        stamp = pd.Timestamp(stamp)
        return str(stamp.tz_convert(self._shown_tz) if self._shown_tz is not None and stamp.tzinfo is not None else stamp)

    @field_validator("time_column")
    @classmethod
    def _one_or_two_columns(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list) and not 1 <= len(value) <= 2:
            raise ValueError("one column name, or two: [date column, time column]")
        return value


class ColumnSpec(StrictModel):
    """One power column of the file: its name and unit (W, kW: power; Wh, kWh: energy per interval).

    In a Home Assistant export ``column`` is the entity (or statistic) id, and
    Wh/kWh mean the sensor's running total.
    """

    column: str
    unit: Unit = "W"


class TimeseriesSpec(FileFormat):
    """A file and which of its columns hold PV, load and grid availability."""

    path: FilePath | None = None
    pv: ColumnSpec | None = None
    load: ColumnSpec | None = None
    grid_available: str | None = None


@dataclass
class ImportedSeries:
    """What came out of a file: regular ``frame`` (pv_w, load_w in W; grid_available), ``gaps`` and ``step_s``.

    ``format`` is how the file was read (``table``, ``home-assistant``, ``home-assistant-statistics``).
    ``gaps`` has one row per run of missing data: column, start, end (the
    first stamp with data again), missing_s. ``unresolved`` holds local times at
    a DST change that could not be resolved (refused if a run uses them).
    """

    frame: pd.DataFrame
    gaps: pd.DataFrame
    step_s: float
    unresolved: pd.DatetimeIndex = field(default_factory=lambda: pd.DatetimeIndex([], tz="UTC"))
    where: str = "timeseries"
    spec: FileFormat = field(default_factory=FileFormat)
    format: str = "table"  # as detect_format read it: in a table Wh/kWh are each interval's energy, in HA a running total

    def gap_report(self) -> str:
        """One line per gap, or a line saying there were none."""
        if self.gaps.empty:
            return "no gaps"
        return "\n".join(
            f"{row.column}: missing from {self.spec.shown(row.start)} to {self.spec.shown(row.end)} "
            f"({row.missing_s / 3600:.2f} h)"
            for row in self.gaps.itertuples()
        )

    def window(self, column: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.Series:
        """``column`` over ``[start, end)`` (tz-aware): refused if not covered, if it holds a gap longer
        than ``max_gap_h`` or an unresolved DST time; longer gaps in it are reported on stderr."""
        series = self.frame[column]
        step = pd.Timedelta(series.index.freq)
        first, last = series.index[0], series.index[-1] + step
        if start.floor(step) < first or end > last:
            raise InputError(
                f"{self.where}: the run from {self.spec.shown(start)} to {self.spec.shown(end)} is not covered: the file "
                f"covers {self.spec.shown(first)} to {self.spec.shown(last)}; "
                "move run.start, shorten run.horizon_h or set shift_to_year = true"
            )
        bad = self.unresolved[(self.unresolved >= start.floor(step)) & (self.unresolved < end)]
        if len(bad):
            raise InputError(
                f"{self.where}.ambiguous: local time {bad[0].tz_convert(self.spec.tz).tz_localize(None)} in {self.spec.tz} "
                "occurs twice (end of daylight saving) and the file's order does not tell which is which; "
                "set ambiguous = 'NaT' to drop those rows, or give stamps with a UTC offset"
            )
        gaps = self.gaps[(self.gaps["column"] == column) & (self.gaps["end"] > start) & (self.gaps["start"] < end)]
        note_gaps(gaps, self.where, step, self.spec)
        return series[(series.index >= start.floor(step)) & (series.index < end)].copy()


def note_gaps(gaps: pd.DataFrame, where: str, step: pd.Timedelta, spec: FileFormat) -> None:
    """Refuse a gap longer than ``spec.max_gap_h``; report gaps longer than ``REPORT_GAP_STEPS`` steps on stderr."""
    if gaps.empty:
        return
    longest = gaps.loc[gaps["missing_s"].idxmax()]
    if longest.missing_s > spec.max_gap_h * 3600.0:
        raise InputError(
            f"{where}.max_gap_h: a gap of {longest.missing_s / 3600:.2f} h from {spec.shown(longest.start)} to "
            f"{spec.shown(longest.end)} is longer than max_gap_h = {spec.max_gap_h:g}; raise max_gap_h to fill it "
            f"({spec.fill}) or pick a run without it"
        )
    long = gaps[gaps["missing_s"] > REPORT_GAP_STEPS * step.total_seconds()]
    if len(long):
        longest = long.loc[long["missing_s"].idxmax()]
        log.warning(
            "%s: %d gap(s) longer than %d steps filled (fill = %r), the longest %.2f h from %s to %s",
            where,
            len(long),
            REPORT_GAP_STEPS,
            spec.fill,
            longest.missing_s / 3600.0,
            spec.shown(longest.start),
            spec.shown(longest.end),
        )


def weekly_repeat(series: pd.Series, start: pd.Timestamp, end: pd.Timestamp) -> pd.Series:
    """``series`` repeated in whole weeks to cover ``[start, end)``, so each weekday lands on the same weekday.

    The period is the longest whole number of weeks the series holds (52 for a
    year); stamps are compared in absolute time, so around DST changes a daily
    pattern can move by an hour for the days the two years' changes differ.
    """
    step = pd.Timedelta(series.index.freq)
    first = series.index[0]
    period = (len(series) * step) // pd.Timedelta(days=7) * pd.Timedelta(days=7)
    if period < pd.Timedelta(days=7):
        raise InputError(f"shift_to_year: the file covers {len(series) * step}; repeating by weekday needs at least 7 days")
    index = pd.date_range(start.floor(step), end, freq=step, inclusive="left")
    offset = ((index - first) % period) // step
    return pd.Series(series.to_numpy()[offset.to_numpy(int)], index=pd.DatetimeIndex(index, freq=step), name=series.name)


def gap_summary(gaps: pd.DataFrame, spec: FileFormat) -> dict:
    """Gaps as plain data for summary.json: count, longest_h and each gap's start, end (as ``spec`` shows them), hours."""
    rows = [
        {"start": spec.shown(r.start), "end": spec.shown(r.end), "missing_h": round(r.missing_s / 3600.0, 6)}
        for r in gaps.itertuples()
    ]
    return {"count": len(rows), "longest_h": max((r["missing_h"] for r in rows), default=0.0), "gaps": rows}


# ----------------------------------------------------------------------------------------------- reading


def read_table(path: str | Path, spec: FileFormat | None = None, where: str = "timeseries") -> pd.DataFrame:
    """Read a table file into a DataFrame (a DatetimeIndex becomes a column); text cells stay text.

    CSV-like files go through ``pandas.read_csv`` with the separator and
    decimal mark from ``spec`` or detected by :func:`sniff_text`.
    """
    spec = spec or FileFormat()
    path = Path(path)
    suffixes = [s.lower() for s in path.suffixes[-2:]]
    packed = suffixes[-1] in COMPRESSED_SUFFIXES or suffixes[-1] == ".zip"
    kind = suffixes[-2] if packed and len(suffixes) == 2 else suffixes[-1] if suffixes else ""
    allowed = ".csv, .txt, .tsv, .dat or .parquet (also .gz, .zip, .bz2, .xz)"
    if kind not in (*TABLE_SUFFIXES, ".parquet", ".pq") and not (packed and kind == ""):
        raise InputError(f"{where}.path: value {str(path)!r} is not allowed: the file must end in {allowed}")
    if not path.is_file():
        raise InputError(f"{where}.path: file {str(path)!r} not found")
    if path.stat().st_size == 0:
        raise InputError(f"{where}.path: file {str(path)!r} is empty; allowed: a table with a time column and values")
    try:
        if kind in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        else:
            sep, decimal, thousands = sniff_text(_head_text(path), spec)
            frame = pd.read_csv(
                path,
                sep=sep,
                decimal=decimal,
                thousands=thousands,
                na_values=[*MISSING_MARKERS, *spec.na_values],
                skipinitialspace=True,
                compression="infer",
                encoding_errors="replace",
            )
    except InputError:
        raise
    except Exception as err:  # parser errors come in many types
        raise InputError(f"{where}.path: file {str(path)!r} could not be read: {str(err).splitlines()[0]}") from err
    if isinstance(frame.index, pd.DatetimeIndex):
        frame = frame.reset_index()
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _head_text(path: Path, size: int = 65536) -> str:
    """The first ``size`` bytes of a (possibly compressed) text file, decoded."""
    suffix = path.suffix.lower()
    if suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            with archive.open(archive.namelist()[0]) as f:
                head = f.read(size)
    else:
        opener: Callable[..., IO[bytes]] = COMPRESSED_SUFFIXES.get(suffix, open)
        with opener(path, "rb") as f:
            head = f.read(size)
    return head.decode("utf-8-sig", errors="replace")


_COMMA_DECIMAL = re.compile(r"^-?\d+,\d+$")
_DOT_DECIMAL = re.compile(r"^-?\d+\.\d+$")
_DOT_THOUSANDS = re.compile(r"^-?\d{1,3}(\.\d{3})+(,\d+)?$")
_COMMA_THOUSANDS = re.compile(r"^-?\d{1,3}(,\d{3})+\.\d+$")
_THOUSANDS_LIKE = re.compile(r"^-?\d{1,3},\d{3}$")


def sniff_text(head: str, spec: FileFormat) -> tuple[str, str, str | None]:
    """Separator, decimal mark and thousands mark of a text table, from ``spec`` or its first lines.

    Written by hand because pandas detects neither the decimal comma nor, in its
    fast C engine, the separator (``sep=None`` needs the slow python engine and
    still guesses ``,`` for ``1,25;2,5``): the separator comes from
    ``csv.Sniffer`` over ``, ; tab |``, and a ``;``/tab file whose numbers look
    like ``1,25`` (never ``1.25``) reads with decimal comma.
    """
    lines = [line for line in head.splitlines()[:50] if line.strip()]
    sep = spec.sep
    if sep is None:
        try:
            sep = csv.Sniffer().sniff("\n".join(lines[:20]), delimiters=",;\t|").delimiter
        except csv.Error:
            sep = ","
    decimal = spec.decimal
    quoted = [cell.strip() for line in lines[1:] for cell in next(csv.reader([line], delimiter=sep), [])] if sep == "," else []
    cells = [cell.strip().strip('"') for line in lines[1:] for cell in line.split(sep)]
    if decimal is None:
        comma = sum(bool(_COMMA_DECIMAL.match(c)) or bool(_DOT_THOUSANDS.match(c) and "," in c) for c in cells)
        dot = sum(bool(_DOT_DECIMAL.match(c)) for c in cells)
        decimal = "," if sep != "," and comma > 0 and dot == 0 else "."
        # "300,5" quoted in a comma-separated file: the comma inside quotes is the decimal mark, unless every such
        # value also reads as thousands ("1,234": refused as not a number rather than guessed).
        commas = [c for c in quoted if _COMMA_DECIMAL.match(c)]
        if commas and not any(_DOT_DECIMAL.match(c) for c in quoted) and not all(_THOUSANDS_LIKE.match(c) for c in commas):
            decimal = ","
    thousands = "." if decimal == "," and any(_DOT_THOUSANDS.match(c) for c in cells) else None
    if decimal == "." and any(_COMMA_THOUSANDS.match(c) for c in quoted):
        thousands = ","  # "1,234.5" quoted: comma thousands with a decimal point, unambiguous
    return sep, decimal, thousands


def read_timeseries(
    spec: TimeseriesSpec | dict, where: str = "timeseries", run_start: pd.Timestamp | None = None
) -> ImportedSeries:
    """Read the file named by ``spec.path`` and import it (see :func:`import_frame`)."""
    spec = _validated(spec, where)
    if spec.path is None:
        raise InputError(f"{where}.path: missing: this field is required")
    return import_frame(read_table(spec.path, spec, where), spec, where, run_start)


def _validated(spec: TimeseriesSpec | dict, where: str) -> TimeseriesSpec:
    if isinstance(spec, TimeseriesSpec):
        return spec
    try:
        return TimeseriesSpec.model_validate(spec)
    except ValidationError as err:
        raise InputError(describe_validation_error(err, where)) from None


def _column(raw: pd.DataFrame, name: str, where: str) -> pd.Series:
    if name not in raw.columns:
        have = ", ".join(map(str, raw.columns))
        raise InputError(f"{where} column {name!r} is not in the file; columns there: {have}")
    return raw[name]


# ----------------------------------------------------------------------------------------------- import


@dataclass
class _Events:
    """One column as read: stamps (tz-aware), values (W, or 0/1 flags; NaN missing) and how they hold."""

    stamps: pd.DatetimeIndex
    values: np.ndarray
    hold: Literal["regular", "irregular", "events"]
    step: pd.Timedelta
    source: str = ""


def detect_format(raw: pd.DataFrame, spec: FileFormat) -> str:
    """``table``, ``home-assistant`` or ``home-assistant-statistics``: ``spec.format`` or detected from the columns."""
    if spec.format != "auto":
        return spec.format
    columns = set(raw.columns)
    if {"entity_id", "state", "last_changed"} <= columns:
        return "home-assistant"
    if {"statistic_id", "start"} <= columns and ({"mean"} <= columns or {"sum"} <= columns):
        return "home-assistant-statistics"
    return "table"


def import_frame(
    raw: pd.DataFrame, spec: TimeseriesSpec | dict, where: str = "timeseries", run_start: pd.Timestamp | None = None
) -> ImportedSeries:
    """Map, convert, place on a regular grid (energy kept), gap-check and fill a raw table as ``spec`` says.

    With ``run_start`` messages give stamps in the run's zone (see :meth:`FileFormat.show_in`)."""
    spec = _validated(spec, where)
    if run_start is not None:
        spec.show_in(run_start)
    mapped = {"pv_w": spec.pv, "load_w": spec.load}
    if all(c is None for c in mapped.values()) and spec.grid_available is None:
        raise InputError(f"{where}: missing: map at least one of pv, load, grid_available to a column")
    fmt = detect_format(raw, spec)
    events: dict[str, _Events] = {}
    unresolved = pd.DatetimeIndex([], tz="UTC")
    if fmt == "table":
        stamps, unresolved, keep = _table_stamps(raw, spec, where)
        rows = raw.iloc[keep].reset_index(drop=True)
        step, hold = _spacing(stamps, where, spec)
        for name, col in mapped.items():
            if col is not None:
                values = _numbers(rows, col.column, where, tuple(spec.na_values)) * _TO_W[col.unit]
                if col.unit in ("Wh", "kWh"):
                    values = values * 3600.0 / _durations(stamps, step, spec.label)
                events[name] = _Events(stamps, values, hold, step, col.column)
        if spec.grid_available is not None:
            events["grid_available"] = _Events(stamps, _flags(rows, spec.grid_available, where), hold, step, spec.grid_available)
    else:
        if spec.grid_available is not None:
            raise InputError(f"{where}.grid_available: not read from a Home Assistant export; use a table file")
        for name, col in mapped.items():
            if col is not None:
                events[name] = (_ha_history if fmt == "home-assistant" else _ha_statistics)(raw, col, spec, where)
    for name, ev in events.items():
        if name != "grid_available":
            _checked_power(ev, name, where, spec)
    target = _target_step(events, spec, where)
    frame, gaps = _on_grid(events, target, spec, where)
    if spec.fill == "error" and not gaps.empty:
        first = gaps.iloc[0]
        raise InputError(
            f"{where} column {first.column!r}: {len(gaps)} gap(s), the first from {spec.shown(first.start)} to "
            f"{spec.shown(first.end)}; "
            "allowed with fill = 'interpolate' or 'zero'"
        )
    frame = _filled(frame, spec.fill)
    return ImportedSeries(frame, gaps, target.total_seconds(), unresolved, where, spec, fmt)


def _time_text(raw: pd.DataFrame, spec: FileFormat, where: str) -> pd.Series:
    """The time column as text; two columns (date, time) are joined with a space."""
    names = [spec.time_column] if isinstance(spec.time_column, str) else spec.time_column
    parts = [_column(raw, name, where).astype("string").str.strip() for name in names]
    text = parts[0] if len(parts) == 1 else parts[0] + " " + parts[1]
    return text.reset_index(drop=True)


def _table_stamps(raw: pd.DataFrame, spec: FileFormat, where: str) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex, np.ndarray]:
    """Stamps of a table's rows, the DST times left unresolved, and the row numbers kept."""
    text = _time_text(raw, spec, where)
    label = " + ".join([spec.time_column] if isinstance(spec.time_column, str) else spec.time_column)
    if len(text) < 2:
        raise InputError(f"{where} column {label!r}: {count(len(text), 'row')} is not allowed: need at least 2")
    parsed = parse_times(text, spec, where, label)
    stamps, unresolved, keep = localize(parsed, spec, where, label)
    if stamps.has_duplicates:
        second = int(np.flatnonzero(stamps.duplicated())[0])
        first = int(np.flatnonzero(stamps == stamps[second])[0])
        raise InputError(
            f"{where} column {label!r}: value {spec.shown(stamps[second])!r} occurs twice (rows {keep[first] + 2} and "
            f"{keep[second] + 2}); allowed: unique times"
        )
    if len(stamps) > 1 and stamps.is_monotonic_decreasing:  # newest first, as some portals export: read it oldest first
        stamps, keep = stamps[::-1], keep[::-1]
    if not stamps.is_monotonic_increasing:
        back = int(np.flatnonzero(np.diff(stamps.asi8) < 0)[0]) + 1
        raise InputError(
            f"{where} column {label!r}: stamps are not in order: {spec.shown(stamps[back])!r} in row {keep[back] + 2} "
            f"comes after {spec.shown(stamps[back - 1])!r}; allowed: rising (or falling) times, sort the file"
        )
    return stamps, unresolved, keep


def parse_times(text: pd.Series, spec: FileFormat, where: str, label: str) -> pd.Series:
    """Parse a column of time texts with pandas, detecting the format from the whole column.

    With ``spec.time_format`` that format is used. Otherwise ISO 8601 is tried,
    then the formats pandas guesses from the first value read day-first and
    month-first (or only the one ``spec.dayfirst`` names); a candidate must read
    every row. If both orders read every row differently, the one whose stamps
    rise with the shortest largest step is taken (the wrong order jumps by
    months); if that does not decide it, the column is refused with a line
    naming ``dayfirst``. Written by hand because pandas guesses the format from
    the first value only and would read ``01.04.2024`` month-first silently.
    """
    from pandas.tseries.api import guess_datetime_format

    present = text.fillna("")
    if spec.time_format is not None:
        candidates = [spec.time_format]
    else:
        first = str(present[present != ""].iloc[0]) if (present != "").any() else ""
        orders = [False, True] if spec.dayfirst is None else [spec.dayfirst]
        with warnings.catch_warnings():  # pandas warns when a guess ignores dayfirst; both orders are tried anyway
            warnings.simplefilter("ignore", UserWarning)
            guessed = [guess_datetime_format(first, dayfirst=d) for d in orders]
        candidates = ["ISO8601", *dict.fromkeys(g for g in guessed if g is not None)]
        if spec.dayfirst is True and "ISO8601" in candidates and re.match(r"^\d{1,2}\D", first):
            candidates.remove("ISO8601")
    results: dict[str, pd.Series] = {}
    worst: tuple[int, str] = (-1, "")
    for fmt in candidates:
        parsed = _to_datetime(text, fmt)
        bad = parsed.isna() & (present != "")
        if not bad.any() and not parsed.isna().all():
            if fmt == "ISO8601":  # year first: the order is never in doubt
                return parsed
            results[fmt] = parsed
        elif bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            worst = max(worst, (row, str(text.iloc[row])))
    if not results:
        row = worst[0] if worst[0] >= 0 else 0
        raise InputError(
            f"{where} column {label!r}: value {str(text.iloc[row])!r} in row {row + 2} is not a time; "
            "allowed: ISO 8601 like '2024-05-01 12:00', day-first like '01.05.2024 12:00', or the format given in time_format"
        )
    distinct: dict[str, pd.Series] = {}
    for fmt, parsed in results.items():
        if not any(parsed.equals(other) for other in distinct.values()):
            distinct[fmt] = parsed
    if len(distinct) > 1:
        # the right order rises at an even pace; the wrong one jumps by months or runs backwards
        pace = {fmt: _largest_spacing(r) for fmt, r in distinct.items()}
        best = min(pace.values())
        if best == np.inf or sum(p == best for p in pace.values()) > 1:
            names = " or ".join(repr(f) for f in distinct)
            raise InputError(
                f"{where}.dayfirst: the dates in column {label!r} read both as {names} (e.g. {str(text.iloc[0])!r}); "
                "set dayfirst = true or false, or time_format"
            )
        distinct = {fmt: r for fmt, r in distinct.items() if pace[fmt] == best}
    return next(iter(distinct.values()))


def _largest_spacing(parsed: pd.Series) -> float:
    """Longest step between consecutive stamps in seconds; infinite when they do not rise."""
    stamps = pd.DatetimeIndex(parsed.dropna())
    if not stamps.is_monotonic_increasing:
        return np.inf
    return float((stamps[1:] - stamps[:-1]).total_seconds().max()) if len(stamps) > 1 else 0.0


def _to_datetime(text: pd.Series, fmt: str) -> pd.Series:
    """``pd.to_datetime`` with errors as NaT; mixed UTC offsets (DST) are converted to UTC."""
    try:
        return pd.to_datetime(text, format=fmt, errors="coerce")
    except ValueError:  # "Mixed timezones detected": offsets change at a DST switch
        return pd.to_datetime(text, format=fmt, errors="coerce", utc=True)
    except TypeError:
        return pd.Series(pd.NaT, index=text.index)


def localize(
    parsed: pd.Series, spec: FileFormat, where: str, label: str
) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex, np.ndarray]:
    """Stamps in ``spec.tz``, the local times left unresolved (UTC) and the rows kept.

    Naive stamps go through ``tz_localize`` with ``spec.ambiguous`` and
    ``spec.nonexistent``. When ``ambiguous = 'infer'`` cannot infer (the
    repeated hour is not there twice), those rows are dropped and remembered:
    a run that uses them is refused, any other run is not. A row shifted out of
    a nonexistent hour onto a stamp the file also has is dropped.
    """
    keep = np.flatnonzero(parsed.notna().to_numpy())
    index = pd.DatetimeIndex(parsed.iloc[keep])
    unresolved = pd.DatetimeIndex([], tz="UTC")
    if index.tz is not None:
        return index.tz_convert(spec.tz), unresolved, keep
    tz = spec.tz
    missing_hour = index.tz_localize(tz, ambiguous=np.ones(len(index), bool), nonexistent="NaT").isna()
    if missing_hour.any() and spec.nonexistent == "raise":
        raise InputError(
            f"{where}.nonexistent: local time {index[missing_hour][0]} in column {label!r} does not exist in {tz} "
            "(start of daylight saving); set nonexistent = 'shift_forward' or 'NaT', or give stamps with a UTC offset"
        )
    shift = "NaT" if spec.nonexistent == "NaT" else "shift_forward"
    if missing_hour.any():  # a meter that exports local time has none: the file may be in standard time or UTC
        log.warning(
            "%s.tz: %d stamp(s) in column %r, the first %s, do not exist in %s (start of daylight saving): is the "
            "file in standard time or UTC? then set tz; they were %s (nonexistent = %r)",
            where, int(missing_hour.sum()), label, index[missing_hour][0], tz,
            "dropped" if shift == "NaT" else "shifted forward (dropped onto a stamp the file has too)", spec.nonexistent,
        )  # fmt: skip
    try:
        local = index.tz_localize(tz, ambiguous=spec.ambiguous, nonexistent=shift)
    except Exception as err:  # pandas' AmbiguousTimeError (a ValueError): 'raise', or 'infer' without a repeated hour
        if spec.ambiguous == "raise":
            raise InputError(
                f"{where}.ambiguous: column {label!r} holds local times in {tz} that occur twice ({err}); "
                "set ambiguous = 'infer' or 'NaT', or give stamps with a UTC offset"
            ) from None
        local = index.tz_localize(tz, ambiguous="NaT", nonexistent=shift)
        unresolved = _ambiguous_utc(index[pd.isna(local) & ~missing_hour], tz)
    if shift == "shift_forward":
        clash = missing_hour & pd.Index(local).isin(local[~missing_hour])
        local, keep = local[~clash], keep[~clash]
    ok = ~pd.isna(local)
    return pd.DatetimeIndex(local[ok]), unresolved, keep[ok]


def _ambiguous_utc(naive: pd.DatetimeIndex, tz: str) -> pd.DatetimeIndex:
    """Both UTC instants of each ambiguous local time (either could be meant)."""
    early = naive.tz_localize(tz, ambiguous=np.ones(len(naive), bool)).tz_convert("UTC")
    late = naive.tz_localize(tz, ambiguous=np.zeros(len(naive), bool)).tz_convert("UTC")
    return early.append(late).sort_values()


def _spacing(stamps: pd.DatetimeIndex, where: str, spec: FileFormat) -> tuple[pd.Timedelta, Literal["regular", "irregular"]]:
    """The file's step (the most common spacing) and whether every spacing is a whole number of steps."""
    diffs = pd.Series((stamps[1:] - stamps[:-1]).total_seconds())
    step_s = float(diffs.mode().iloc[0])
    if step_s < 1.0 and spec.step_s is None:
        raise InputError(f"{where}.step_s: the file's stamps are {step_s:g} s apart; set step_s (at least 1 s) to resample")
    regular = bool(np.allclose(diffs / step_s, np.round(diffs / step_s), atol=1e-6))
    if regular:
        return pd.Timedelta(seconds=step_s), "regular"
    return pd.Timedelta(seconds=max(1.0, round(float(diffs.median())))), "irregular"


def _durations(stamps: pd.DatetimeIndex, step: pd.Timedelta, label: str) -> np.ndarray:
    """Seconds each row's interval lasts (a gap of missing rows does not count): for energy columns."""
    diffs = (stamps[1:] - stamps[:-1]).total_seconds().to_numpy()
    nominal = step.total_seconds()
    held = np.minimum(diffs, _limit(diffs, nominal))
    return np.concatenate((held, [nominal])) if label == "start" else np.concatenate(([nominal], held))


def _limit(diffs: np.ndarray, nominal: float) -> np.ndarray:
    """Longest time a value holds: one step on a regular grid, up to three typical spacings otherwise."""
    regular = np.allclose(diffs / nominal, np.round(diffs / nominal), atol=1e-6)
    return np.where(diffs <= (nominal if regular else 3.0 * nominal), diffs, nominal)


def _numbers(raw: pd.DataFrame, name: str, where: str, markers: tuple[str, ...] = ()) -> np.ndarray:
    """A column as floats; empty cells and the missing-value markers are NaN."""
    text = _column(raw, name, where)
    values = pd.to_numeric(text, errors="coerce")
    words = text.astype("string").str.strip()
    bad = values.isna() & text.notna() & ~words.isin([*MISSING_MARKERS, *markers]).fillna(True)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            f"{where} column {name!r}: value {text.iloc[row]!r} in row {row + 2} is not a number; "
            "set decimal, or add the marker to na_values"
        )
    return values.astype(float).to_numpy()


def _checked_power(ev: _Events, name: str, where: str, spec: FileFormat) -> None:
    """Load must be >= 0; PV's small negative night readings (an inverter's own draw) become 0, larger ones are refused."""
    if name == "pv_w":
        counted_negative = np.flatnonzero(ev.values < -PV_NIGHT_DRAW_W)
        if len(counted_negative):
            i = int(counted_negative[0])
            raise InputError(
                f"{where} column {ev.source!r}: value {ev.values[i]:g} W at {spec.shown(ev.stamps[i])} is not allowed: PV must "
                "be >= 0 "
                f"(readings down to -{PV_NIGHT_DRAW_W:g} W, an inverter's night draw, read as 0); is generation counted "
                "negative in this file? then give the column with its sign flipped"
            )
        ev.values = np.where(ev.values < 0, 0.0, ev.values)
        return
    negative = np.flatnonzero(ev.values < 0)
    if len(negative):
        i = int(negative[0])
        raise InputError(
            f"{where} column {ev.source!r}: value {ev.values[i]:g} W at {spec.shown(ev.stamps[i])} is not allowed: "
            "load must be >= 0"
        )


def _flags(raw: pd.DataFrame, name: str, where: str) -> np.ndarray:
    """Grid availability as 1.0/0.0 (NaN where empty)."""
    text = _column(raw, name, where)
    if text.dtype == bool:
        return text.to_numpy(float)
    words = text.astype("string").str.strip().str.lower().fillna("")
    flags = np.where(words.isin(_TRUE), 1.0, np.where(words.isin(_FALSE), 0.0, np.nan))
    bad = np.isnan(flags) & (words != "").to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{where} column {name!r}: value {text.iloc[row]!r} in row {row + 2} is not allowed: "
            "one of 1/0, true/false, yes/no, on/off"
        )
    return flags


def _ha_rows(raw: pd.DataFrame, id_column: str, wanted: str, where: str) -> pd.DataFrame:
    rows = raw[raw[id_column].astype("string").str.strip() == wanted]
    if rows.empty:
        have = ", ".join(sorted(map(str, raw[id_column].dropna().unique()))[:10])
        raise InputError(f"{where}.column: {id_column} {wanted!r} is not in the export; there: {have}")
    return rows.reset_index(drop=True)


def _ha_history(raw: pd.DataFrame, col: ColumnSpec, spec: FileFormat, where: str) -> _Events:
    """A Home Assistant history export: each state holds until the next event; unavailable/unknown are missing.

    A power sensor (W, kW) is held as is; an energy sensor (Wh, kWh) is a running
    total whose increase between two events is spread over that time (a drop is
    a meter reset: the new reading counts from zero).
    """
    rows = _ha_rows(raw, "entity_id", col.column, where)
    time_column = "last_changed" if "last_changed" in rows else "last_updated"
    parsed = parse_times(rows[time_column].astype("string").reset_index(drop=True), spec, where, time_column)
    stamps, _, keep = localize(parsed, spec, where, time_column)
    order = np.argsort(stamps.asi8, kind="stable")
    stamps, keep = stamps[order], keep[order]
    values = _numbers(rows.iloc[keep].reset_index(drop=True), "state", where, tuple(spec.na_values)) * _TO_W[col.unit]
    if col.unit in ("Wh", "kWh"):
        known = ~np.isnan(values)
        stamps, values = stamps[known], values[known]
        increase = np.diff(values)
        increase = np.where(increase < 0, values[1:], increase)
        hours = (stamps[1:] - stamps[:-1]).total_seconds().to_numpy() / 3600.0
        values = np.concatenate(([np.nan], increase / np.where(hours > 0, hours, np.nan)))  # W over (t[i-1], t[i]]
        values = np.concatenate((values[1:], [np.nan]))  # as interval-start values
    step = pd.Timedelta(seconds=spec.step_s or EVENT_STEP_S)
    keep_unique = ~stamps.duplicated(keep="last")
    return _Events(stamps[keep_unique], values[keep_unique], "events", step, col.column)


def _ha_statistics(raw: pd.DataFrame, col: ColumnSpec, spec: FileFormat, where: str) -> _Events:
    """Home Assistant long-term statistics: hourly ``mean`` of a power sensor, or ``sum`` of an energy sensor.

    Rows are labelled by the start of their hour; the energy of an hour is the
    increase of ``sum`` since the hour before (a missing hour leaves a gap).
    """
    rows = _ha_rows(raw, "statistic_id", col.column, where)
    parsed = parse_times(rows["start"].astype("string").reset_index(drop=True), spec, where, "start")
    stamps, _, keep = localize(parsed, spec, where, "start")
    rows = rows.iloc[keep].reset_index(drop=True)
    hour = pd.Timedelta(hours=1)
    if "mean" in rows and pd.to_numeric(rows["mean"], errors="coerce").notna().any():
        values = _numbers(rows, "mean", where) * _TO_W[col.unit]
    else:
        total = pd.Series(_numbers(rows, "sum", where) * _TO_W[col.unit], index=stamps)
        total = total.reindex(pd.date_range(stamps[0], stamps[-1], freq=hour))
        energy = total.diff()  # the sum at each row is the total at the end of that row's hour
        values, stamps = energy.to_numpy(), pd.DatetimeIndex(energy.index)
    return _Events(stamps, values, "regular", hour, col.column)


# ----------------------------------------------------------------------------------------------- on a grid


def _target_step(events: dict[str, _Events], spec: FileFormat, where: str) -> pd.Timedelta:
    if spec.step_s is not None:
        if spec.step_s != int(spec.step_s):
            raise InputError(f"{where}.step_s: value {spec.step_s!r} is not allowed: whole seconds only")
        return pd.Timedelta(seconds=spec.step_s)
    steps = {ev.step for ev in events.values()}
    if len(steps) > 1:
        raise InputError(f"{where}.step_s: the columns have different steps ({', '.join(map(str, steps))}); set step_s")
    return steps.pop()


def _segments(ev: _Events, label: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where each value holds: (from_s, to_s, value) in seconds since the epoch, missing values dropped."""
    t = ev.stamps.tz_convert("UTC").tz_localize(None).to_numpy("datetime64[us]").astype(np.int64) / 1e6
    nominal = ev.step.total_seconds()
    diffs = np.diff(t)
    if ev.hold == "events":
        held = diffs
    elif ev.hold == "regular":
        held = np.minimum(diffs, nominal)
    else:
        held = _limit(diffs, nominal)
    if label == "end" and ev.hold != "events":
        ends = t
        starts = ends - np.concatenate(([nominal], held))
    else:
        starts = t
        ends = starts + np.concatenate((held, [nominal if ev.hold != "events" else 0.0]))
    ok = ~np.isnan(ev.values) & (ends > starts)
    return starts[ok], ends[ok], ev.values[ok]


def time_weighted_bins(
    starts: np.ndarray, ends: np.ndarray, values: np.ndarray, edges: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Mean of a piecewise-constant signal over each bin, and the seconds of each bin it covers.

    Written by hand because pandas' ``resample().mean()`` averages the rows that
    fall in a bin without weighting them by how long each holds, which loses or
    invents energy on irregular stamps. Exact: integrates the signal through its
    running energy at the bin edges.
    """
    knots = np.column_stack((starts, ends)).ravel()
    gain = np.column_stack((np.zeros_like(values), values * (ends - starts))).ravel()
    time = np.column_stack((np.zeros_like(values), ends - starts)).ravel()
    energy = np.interp(edges, knots, np.cumsum(gain), left=0.0)
    covered = np.interp(edges, knots, np.cumsum(time), left=0.0)
    d_energy, d_covered = np.diff(energy), np.diff(covered)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(d_covered > 1e-9, d_energy / d_covered, np.nan)
    return mean, d_covered


def _on_grid(events: dict[str, _Events], target: pd.Timedelta, spec: FileFormat, where: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every column on one regular grid at ``target`` (mean power kept per bin), and the gaps found."""
    segments = {name: _segments(ev, spec.label) for name, ev in events.items()}
    tz = next(iter(events.values())).stamps.tz
    step_s = target.total_seconds()
    empty = [name for name, seg in segments.items() if len(seg[0]) == 0]
    if empty:
        column = events[empty[0]].source or empty[0]
        raise InputError(f"{where} column {column!r}: no values (all missing); allowed: a column with at least one number")
    first = min(seg[0][0] for seg in segments.values())
    last = max(seg[1][-1] for seg in segments.values())
    if any(ev.hold != "regular" for ev in events.values()):
        first = np.floor(first / step_s) * step_s
    n_bins = max(1, int(np.ceil((last - first) / step_s - 1e-9)))
    if n_bins > _MAX_BINS:
        raise InputError(f"{where}.step_s: value {step_s:g} is not allowed: {n_bins} steps; pick a longer step_s")
    edges = first + step_s * np.arange(n_bins + 1)
    index = pd.DatetimeIndex(pd.to_datetime(edges[:-1], unit="s", utc=True).tz_convert(tz), freq=target)
    data, rows = {}, []
    for name, (starts, ends, values) in segments.items():
        mean, _ = time_weighted_bins(starts, ends, values, edges)
        if name == "grid_available":  # off for any part of a step: off for the step
            mean = np.where(np.isnan(mean), np.nan, (mean >= 1.0 - 1e-9).astype(float))
        data[name] = mean
        holes = np.flatnonzero(starts[1:] - ends[:-1] > 1e-6)
        bounds = [(ends[i], starts[i + 1]) for i in holes]
        for a, b in bounds:
            rows.append(
                (
                    name,
                    pd.Timestamp(a, unit="s", tz="UTC").tz_convert(tz),
                    pd.Timestamp(b, unit="s", tz="UTC").tz_convert(tz),
                    b - a,
                )
            )
        for i in np.flatnonzero(np.isnan(mean)):  # bins before a column's first or after its last value
            if edges[i + 1] <= starts[0] or edges[i] >= ends[-1]:
                rows.append((name, index[i], index[i] + target, step_s))
    gaps = pd.DataFrame(rows, columns=["column", "start", "end", "missing_s"])
    gaps = gaps.sort_values(["column", "start"], kind="stable").reset_index(drop=True)
    return pd.DataFrame(data, index=index), _merged(gaps)


def _merged(gaps: pd.DataFrame) -> pd.DataFrame:
    """Adjacent gaps of one column as one row."""
    rows: list[list] = []
    for row in gaps.itertuples(index=False):
        if rows and rows[-1][0] == row.column and rows[-1][2] >= row.start:
            rows[-1][2] = max(rows[-1][2], row.end)
            rows[-1][3] = (rows[-1][2] - rows[-1][1]).total_seconds()
        else:
            rows.append([row.column, row.start, row.end, float(row.missing_s)])
    return pd.DataFrame(rows, columns=["column", "start", "end", "missing_s"])


def _filled(frame: pd.DataFrame, fill: str) -> pd.DataFrame:
    frame = frame.copy()
    for name in frame.columns:
        if not frame[name].isna().any():
            continue
        if fill == "zero":
            frame[name] = frame[name].fillna(0.0)
        elif name == "grid_available":
            frame[name] = frame[name].ffill().bfill()
        else:
            frame[name] = frame[name].interpolate(method="time").bfill().ffill()
    if "grid_available" in frame:
        frame["grid_available"] = frame["grid_available"].astype(bool)
    return frame
