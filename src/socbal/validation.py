"""The base of every validated input model (allocate JSON, scenario and runtime TOML).

Strict: unknown fields, NaN/inf, booleans or strings where numbers belong are
errors that name the field, not silent conversions. TOML arrays and text stand
for tuples, paths and times, so those few types are read leniently.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Strict

FloatPair = Annotated[tuple[float, float], Strict(False)]  # a TOML/JSON array of two numbers
FilePath = Annotated[Path, Strict(False)]  # a path given as text
DateTime = Annotated[datetime, Strict(False)]  # a TOML date-time, or ISO 8601 text


class StrictModel(BaseModel):
    """Base for all validated inputs: strict types, no unknown fields, no NaN/inf, immutable."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True, strict=True)
