"""Grid availability: the ``[grid]`` section (outages and an optional file) and its held profile."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from socbal.profiles.holding import held_profile
from socbal.profiles.pv import in_start_tz
from socbal.profiles.timeseries import FileFormat, read_timeseries, resolve_path
from socbal.validation import FilePath, FloatPair, StrictModel


class GridFileSpec(FileFormat):
    """Grid availability from a column of the user's file (1/0, true/false, on/off); file options as ``[load]``."""

    path: FilePath
    column: str
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

    def check_steps(self, step_s: float) -> None:
        """Outages must start and end on the run's steps (ValueError otherwise), so each lasts whole steps:
        the grid is sampled once per step, so a shorter or shifted outage would vanish or grow silently."""
        for k, (start_h, end_h) in enumerate(self.outages_h):
            for name, value_h in (("start", start_h), ("end", end_h)):
                steps = value_h * 3600.0 / step_s
                if abs(steps - round(steps)) > 1e-6:
                    raise ValueError(
                        f"grid.outages_h[{k}]: {name} {value_h:g} h is not on a step of {step_s:g} s "
                        f"(nearest: {round(steps) * step_s / 3600.0:g} h); outages start and end on whole steps"
                    )


def grid_profile(grid: GridSpec, start: pd.Timestamp, horizon_s: float, step_s: float) -> tuple[np.ndarray, float]:
    """Grid availability (1 on, 0 off) as ``(values, profile_step_s)``: the file's own step, else the run's
    ``step_s`` (outages are validated to start and end on the run's steps, see :meth:`GridSpec.check_steps`)."""
    if grid.file is not None:
        fields = grid.file.model_dump(exclude={"path", "column"})
        fields = {**fields, "path": grid.file.path, "grid_available": grid.file.column}
        imported = read_timeseries(fields, "grid.file", start)
        series = imported.frame["grid_available"].astype(float)
        series = in_start_tz(series, start, series.index.freq)
        values, profile_step_s = held_profile(series, start, horizon_s, "grid.file")
    else:
        profile_step_s = step_s
        values = np.ones(int(np.ceil(horizon_s / profile_step_s)) + 1)
    for start_h, end_h in grid.outages_h:
        first = int(round(start_h * 3600.0 / profile_step_s))
        values[first : max(first + 1, int(np.ceil(end_h * 3600.0 / profile_step_s - 1e-9)))] = 0.0
    return values, profile_step_s
