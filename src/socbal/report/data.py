"""Result sets as the report reads them: from a results folder or from a :class:`SimulationResult` in memory.

Reports never re-run physics: everything here reads what a simulation recorded.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, Union, runtime_checkable

import pandas as pd
from pydantic import BaseModel

from socbal.errors import InputError
from socbal.sim.results import RESULT_FILES


@dataclass
class RunData:
    """One simulation's recorded results (the columns of :mod:`socbal.sim.results`).

    ``scenario`` is the scenario as a plain dict (``scenario.json``); ``label`` names the
    run in comparisons (default: the scenario name).
    """

    label: str
    packs: pd.DataFrame
    device: pd.DataFrame
    summary: dict
    scenario: dict = field(default_factory=dict)
    folder: Path | None = None

    @property
    def pack_ids(self) -> list[str]:
        """Pack ids in scenario order (the main unit's battery first)."""
        ids = self.packs["pack_id"]
        if isinstance(ids.dtype, pd.CategoricalDtype):
            return [str(c) for c in ids.cat.categories]
        return [str(i) for i in pd.unique(ids)]

    @property
    def start(self) -> pd.Timestamp | None:
        """Calendar time of the run's start (from the recorded ``timestamp``), or None when undated."""
        if "timestamp" not in self.device or self.device.empty:
            return None
        first = self.device.iloc[0]
        return pd.Timestamp(first["timestamp"]) - pd.to_timedelta(float(first["time_s"]), unit="s")

    @property
    def duration_s(self) -> float:
        """Recorded span of the run, s."""
        return float(self.device["time_s"].iloc[-1]) if len(self.device) else 0.0

    @property
    def reserve_pct(self) -> float:
        """The backup reserve setting, %."""
        return float(self.summary["backup_reserve_pct"])


@runtime_checkable
class RecordedRun(Protocol):
    """Recorded results in memory, such as a :class:`socbal.sim.results.SimulationResult` (its ``scenario``
    attribute, a pydantic model or a dict, is optional)."""

    packs: pd.DataFrame
    device: pd.DataFrame
    summary: dict


#: Anything the report functions accept as one run.
RunLike = Union[RunData, str, Path, RecordedRun]


def load_run(folder: str | Path, label: str | None = None) -> RunData:
    """Read a results folder written by ``socbal simulate`` (or ``SimulationResult.save``).

    Raises :class:`socbal.errors.InputError` with a one-line message naming the folder and
    the files expected when the folder is missing or holds no results.
    """
    folder = Path(folder)
    expected = ", ".join(RESULT_FILES[:3])
    if not folder.exists():
        raise InputError(f"results folder not found: {folder} (expected a folder written by 'socbal simulate')")
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder; expected a results folder holding {expected}")
    missing = [name for name in RESULT_FILES[:3] if not (folder / name).is_file()]
    if missing:
        raise InputError(
            f"{folder}: no simulation results here: missing {', '.join(missing)}; "
            f"expected a folder written by 'socbal simulate SCENARIO --out {folder}'"
        )
    try:
        packs = pd.read_parquet(folder / "packs.parquet")
        device = pd.read_parquet(folder / "device.parquet")
        summary = json.loads((folder / "summary.json").read_text())
        scenario_file = folder / "scenario.json"
        scenario = json.loads(scenario_file.read_text()) if scenario_file.is_file() else {}
    except (OSError, ValueError) as err:
        raise InputError(f"{folder}: cannot read the results: {err}".splitlines()[0]) from None
    _check_columns(folder, packs, device, summary)
    return RunData(
        label=label or str(summary.get("scenario") or folder.name),
        packs=packs,
        device=device,
        summary=summary,
        scenario=scenario,
        folder=folder,
    )


def _check_columns(folder: Path, packs: pd.DataFrame, device: pd.DataFrame, summary: dict) -> None:
    """Raise :class:`InputError` when the result files lack what the report reads."""
    needs = {
        "packs.parquet": (packs.columns, ("time_s", "pack_id", "soc_true_pct", "soc_est_pct", "power_w")),
        "device.parquet": (device.columns, ("time_s", "load_wh", "pv_wh", "spread_true_pct")),
        "summary.json": (
            summary.keys() if isinstance(summary, dict) else (),
            ("backup_reserve_pct", "spread", "energy_kwh", "packs"),
        ),
    }
    for name, (have, wanted) in needs.items():
        absent = [c for c in wanted if c not in have]
        if absent:
            raise InputError(f"{folder / name}: missing {', '.join(absent)}; expected the results of 'socbal simulate'")
    if packs.empty or device.empty:
        raise InputError(f"{folder}: the results hold no recorded rows; expected at least one recorded interval")


def as_run(run: RunLike, label: str | None = None) -> RunData:
    """Turn a results folder, a :class:`SimulationResult` or a :class:`RunData` into :class:`RunData`."""
    if isinstance(run, RunData):
        if label is not None and label != run.label:
            return RunData(label, run.packs, run.device, run.summary, run.scenario, run.folder)
        return run
    if isinstance(run, (str, Path)):
        return load_run(run, label)
    if isinstance(run, RecordedRun):
        spec = getattr(run, "scenario", None)
        scenario = spec.model_dump(mode="json") if isinstance(spec, BaseModel) else dict(spec or {})
        return RunData(
            label=label or str(run.summary.get("scenario", "run")),
            packs=run.packs,
            device=run.device,
            summary=run.summary,
            scenario=scenario,
        )
    raise TypeError(f"cannot read results from {type(run).__name__}: pass a results folder, a SimulationResult or a RunData")


def as_runs(runs: Iterable[RunLike] | Mapping[str, RunLike]) -> list[RunData]:
    """Several runs: a mapping ``{label: run}`` or a sequence (labels from the scenario names, made unique)."""
    if isinstance(runs, Mapping):
        out = [as_run(run, str(label)) for label, run in runs.items()]
    else:
        out = [as_run(run) for run in runs]
    seen: dict[str, int] = {}
    for i, run in enumerate(out):
        n = seen.get(run.label, 0)
        seen[run.label] = n + 1
        if n:
            out[i] = as_run(run, f"{run.label} ({n + 1})")
    if not out:
        raise InputError("no runs to compare: pass at least one result set")
    return out
