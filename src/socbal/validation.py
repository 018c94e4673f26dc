"""The base of every validated input model (allocate JSON, scenario and runtime TOML).

Strict: unknown fields, NaN/inf, booleans or strings where numbers belong are
errors that name the field, not silent conversions. TOML arrays and text stand
for tuples, paths and times, so those few types are read leniently.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Strict

from socbal.errors import InputError

FloatPair = Annotated[tuple[float, float], Strict(False)]  # a TOML/JSON array of two numbers
FilePath = Annotated[Path, Strict(False)]  # a path given as text
DateTime = Annotated[datetime, Strict(False)]  # a TOML date-time, or ISO 8601 text


class StrictModel(BaseModel):
    """Base for all validated inputs: strict types, no unknown fields, no NaN/inf, immutable."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True, strict=True)


#: Digits an integer in the user's JSON may have before it is read as a float (so a bound names its field).
MAX_JSON_INT_DIGITS = 20


def _json_int(text: str) -> int | float:
    return int(text) if len(text.lstrip("-")) <= MAX_JSON_INT_DIGITS else float(text)


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    keys = [k for k, _ in pairs]
    for k in keys:
        if keys.count(k) > 1:
            raise InputError(f"input is not valid JSON: the key {k!r} comes twice in one object (which one is meant?)")
    return dict(pairs)


def json_loads(data: bytes) -> object:
    """The user's JSON (UTF-8, a byte-order mark allowed). A repeated key is an :class:`InputError` (the last would
    silently win); an integer too long to convert is read as a float, so the field's bound reports it. Malformed
    text raises ``json.JSONDecodeError``, bytes that are not UTF-8 ``UnicodeDecodeError``, as ``json.loads`` does."""
    return json.loads(data.decode("utf-8-sig"), parse_int=_json_int, object_pairs_hook=_unique_keys)
