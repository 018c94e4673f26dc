"""Grid availability: the ``[grid]`` section (outages and an optional file) and its held profile."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from socbal.profiles.holding import held_profile
from socbal.profiles.pv import in_start_tz
from socbal.profiles.specs import resolve_path
from socbal.profiles.timeseries import read_timeseries
from socbal.validation import FilePath, FloatPair, StrictModel

#: Resolution of the grid-availability profile, s (outages are held per interval).
GRID_STEP_S = 60.0


class GridFileSpec(StrictModel):
    """Grid availability from a column of the user's CSV/Parquet file (1/0, true/false, on/off)."""

    path: FilePath
    column: str
    time_column: str = "time"
    time_format: str | None = None
    tz: str = "UTC"
    _relative_to_scenario = field_validator("path")(resolve_path)


class GridSpec(StrictModel):
    """Grid availability: on, except during the listed outages and where the file says off."""

    file: GridFileSpec | None = None
    outages_h: list[FloatPair] = Field(default_factory=list, description="Outages as [start_h, end_h] from the start of the run")

    @field_validator("outages_h")
    @classmethod
    def _ordered(cls, outages: list[tuple[float, float]]) -> list[tuple[float, float]]:
        for start, end in outages:
            if not (0 <= start < end):
                raise ValueError(f"outage [{start}, {end}] must have 0 <= start_h < end_h")
        return outages


def grid_profile(grid: GridSpec, start: pd.Timestamp, horizon_s: float) -> tuple[np.ndarray, float]:
    """Grid availability (1 on, 0 off) as ``(values, step_s)``: the file's own step, else ``GRID_STEP_S``."""
    if grid.file is not None:
        imported = read_timeseries(
            {
                "path": grid.file.path,
                "time_column": grid.file.time_column,
                "time_format": grid.file.time_format,
                "tz": grid.file.tz,
                "grid_available": grid.file.column,
            }
        )
        series = imported.frame["grid_available"].astype(float)
        series = in_start_tz(series, start, series.index.freq)
        values, step_s = held_profile(series, start, horizon_s, "grid.file")
    else:
        step_s = GRID_STEP_S
        values = np.ones(int(np.ceil(horizon_s / step_s)) + 1)
    for start_h, end_h in grid.outages_h:
        values[int(start_h * 3600.0 / step_s) : int(np.ceil(end_h * 3600.0 / step_s))] = 0.0
    return values, step_s
