"""Writing result folders: every file atomically (temporary file, then rename), tables as Parquet; reading them back.

Shared by every command that saves results (simulate, fleet, compare, lifetime, report).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from socbal.errors import InputError

_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read the process umask (os.umask can only be read by setting it)


def write_atomic(path: Path, write: Callable) -> None:
    """Call ``write(binary_file)`` on a temporary file beside ``path``, then rename it into place."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; results are meant to be shared like any new file
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def json_bytes(data: dict) -> bytes:
    """JSON with NaN and infinities written as null (JSON has neither)."""

    def clean(value):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value

    return json.dumps(clean(data), indent=2).encode()


def save_results(out_dir: str | Path, tables: dict[str, pd.DataFrame], summary: dict, scenario) -> Path:
    """Write ``<name>.parquet`` per table, ``summary.json`` and ``scenario.json`` (a pydantic model) into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        write_atomic(out / f"{name}.parquet", lambda f, frame=frame: frame.to_parquet(f, index=False))
    write_atomic(out / "summary.json", lambda f: f.write(json_bytes(summary)))
    write_atomic(out / "scenario.json", lambda f: f.write(scenario.model_dump_json(indent=2).encode()))
    return out


def read_results(folder: str | Path, tables: tuple[str, ...], what: str) -> tuple[dict[str, pd.DataFrame], dict, dict]:
    """The ``<name>.parquet`` tables, ``summary.json`` and ``scenario.json`` (as dicts) of a folder :func:`save_results` wrote.

    ``what`` names the results for the one-line :class:`InputError` raised when a file is missing or unreadable.
    """
    folder = Path(folder)
    try:
        frames = {name: pd.read_parquet(folder / f"{name}.parquet") for name in tables}
        summary = json.loads((folder / "summary.json").read_text())
        scenario = json.loads((folder / "scenario.json").read_text())
    except (OSError, ValueError) as err:
        raise InputError(f"{folder}: cannot read the {what}: {err}".splitlines()[0]) from None
    if not isinstance(summary, dict) or not isinstance(scenario, dict):
        raise InputError(f"{folder}: cannot read the {what}: summary.json and scenario.json must each hold a JSON object")
    return frames, summary, scenario
