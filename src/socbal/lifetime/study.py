"""Battery lifetime under each EMS strategy: the same device, profiles and packs, run once per strategy.

:func:`run_study` simulates the scenario once per strategy (its own horizon, ideally one
year), counts each pack's cycles from its recorded true SOC and, when NREL's BLAST-Lite is
installed, extrapolates capacity fade by repeating the simulated period until ``max_years``.

What the numbers mean, and what they leave out:

- ``soc_swing_efc_per_year``: equivalent full cycles from the pack's SOC swings (Σ|ΔSOC| / 200 %), scaled
  to a year; ``dod``: rainflow cycles per year by depth of discharge; ``time_high_h_per_year``
  / ``time_low_h_per_year``: hours per year at SOC >= ``high_soc_pct`` / <= ``low_soc_pct``.
- ``capacity_after_pct``: capacity after ``years`` in % of the pack's nameplate capacity.
  A pack that starts aged (``soh_pct`` < 100) loses the *same share* of its present capacity
  as a new cell under that duty: ``soh_pct * capacity_frac(t)``. This overstates an aged
  pack's fade a little (real calendar fade slows with age).
- ``years_to_80_pct``: first time the pack's capacity reaches 80 % of nameplate (0 when it
  starts there or below); NaN when it does not within ``max_years``.
- No feedback: the simulated SOC trajectory is that of the packs' *present* capacity and is
  repeated unchanged; the device does not lose usable capacity as the packs fade (BLAST-Lite
  itself widens the SOC swings as capacity falls, keeping the energy throughput).
- One constant cell temperature (the scenario's ``[lifetime]`` section, else 25 °C).
- Energies (served, losses) are per simulated year, scaled from the horizon (a year is 365 days). Losses are the
  device's (the summary's ``losses``, :func:`socbal.sim.metrics.losses_kwh`: DC-DC, I²R, standby and the main unit's
  draw) per strategy, and each pack's (:func:`socbal.sim.metrics.pack_loss_kwh`) per pack.
- ``capacity_spread_pct``: the spread of the packs' *capacities* after ``years`` (max - min, % points of nameplate),
  not an SOC spread.
"""

from __future__ import annotations

import math
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from socbal.ems.models import STRATEGY_NAMES
from socbal.errors import InputError
from socbal.lifetime.cycles import DEFAULT_DOD_BINS_PCT, dod_histogram, soc_swing_efc, time_at_soc_s
from socbal.resultfiles import read_results, save_results
from socbal.scenario import PackSpec, Scenario, scenario_from_dict
from socbal.sim.metrics import pack_loss_kwh
from socbal.sim.results import SimulationResult
from socbal.wording import count

#: Strategies compared by default, in table order: every strategy the EMS has.
STRATEGIES = STRATEGY_NAMES
#: Recording interval used when the scenario leaves ``run.record_every_s`` unset, s.
DEFAULT_RECORD_EVERY_S = 900.0
#: Capacity at the end of life, % of nameplate.
END_OF_LIFE_PCT = 80.0
#: How far the fade trajectory is followed to find the end of life, years.
DEFAULT_MAX_YEARS = 30.0
#: Longest study, years.
MAX_YEARS_LIMIT = 50.0
#: Resolution of the stored capacity trajectories, years.
FADE_GRID_YEARS = 1.0 / 12.0
DAYS_PER_YEAR = 365.0
WH_PER_KWH = 1000.0

STUDY_FILES = ("strategies.parquet", "packs.parquet", "dod.parquet", "fade.parquet", "summary.json", "scenario.json")


@dataclass
class LifetimeStudy:
    """What :func:`run_study` produced; all frames are tidy, units in the column names.

    ``strategies``: one row per strategy (the headline table). ``packs``: one row per strategy
    and pack. ``dod``: rainflow cycles per year per strategy, pack and depth bin.
    ``fade``: capacity trajectory per strategy and pack (empty without BLAST-Lite).
    ``runs``: the simulation result of each strategy. ``fade_error``: why fade is missing, or None.
    """

    scenario: Scenario
    years: float
    max_years: float
    chemistry: str
    temperature_c: float
    strategies: pd.DataFrame
    packs: pd.DataFrame
    dod: pd.DataFrame
    fade: pd.DataFrame
    runs: dict[str, SimulationResult] = field(repr=False)
    fade_error: str | None = None
    #: Whether :meth:`save` also writes each strategy's simulation results by default.
    save_runs: bool = False

    @property
    def fade_available(self) -> bool:
        """True when capacity fade was computed (BLAST-Lite importable)."""
        return self.fade_error is None

    @property
    def summary(self) -> dict:
        """JSON-ready summary: settings, the strategy table and the per-pack rows (NaN -> null)."""
        run = self.scenario.run
        return {
            "scenario": self.scenario.name,
            "years": self.years,
            "max_years": self.max_years,
            "end_of_life_pct": END_OF_LIFE_PCT,
            "chemistry": self.chemistry,
            "temperature_c": self.temperature_c,
            "simulated_h": run.n_steps * run.step_s / 3600.0,
            "step_s": run.step_s,
            "record_every_s": run.record_every_s,
            "fade_available": self.fade_available,
            "fade_error": self.fade_error,
            "strategies": _records(self.strategies),
            "packs": _records(self.packs),
        }

    @classmethod
    def load(cls, folder: str | Path) -> "LifetimeStudy":
        """The study :meth:`save` wrote into ``folder`` (without the simulation runs); :class:`InputError` when unreadable."""
        tables = tuple(name.removesuffix(".parquet") for name in STUDY_FILES if name.endswith(".parquet"))
        frames, summary, scenario = read_results(folder, tables, "lifetime results")
        try:
            settings = {k: summary[k] for k in ("years", "max_years", "chemistry", "temperature_c")}
        except KeyError as err:
            raise InputError(f"{folder}/summary.json: {err.args[0]} missing (not written by 'socbal lifetime')") from None
        scenario_obj = scenario_from_dict(scenario, source=f"{folder}/scenario.json")
        return cls(scenario=scenario_obj, runs={}, fade_error=summary.get("fade_error"), **settings, **frames)

    def save(self, out_dir: str | Path, runs: bool | None = None) -> Path:
        """Write the study's files into ``out_dir`` (each atomically); with ``runs`` (default
        ``save_runs``) also each strategy's simulation results under ``runs/<strategy>/``
        (readable by ``socbal report``)."""
        tables = {"strategies": self.strategies, "packs": self.packs, "dod": self.dod, "fade": self.fade}
        out = save_results(out_dir, tables, self.summary, self.scenario)
        if self.save_runs if runs is None else runs:
            for strategy, result in self.runs.items():
                result.save(out / "runs" / strategy)
        return out


def _records(frame: pd.DataFrame) -> list[dict]:
    """Rows as plain-Python dicts (numpy scalars converted)."""
    return [{k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()} for row in frame.to_dict("records")]


def fade_unavailable_reason() -> str | None:
    """None when BLAST-Lite can be imported, else one line saying how to install it."""
    from socbal.lifetime.fade import _blast_models

    try:
        _blast_models()
    except ImportError as err:
        return str(err)
    return None


def with_strategy(scenario: Scenario, strategy: str, record_every_s: float | None = None) -> Scenario:
    """A copy of ``scenario`` run under ``strategy``, recorded every ``record_every_s`` when the
    scenario leaves its recording interval unset (never finer than its step)."""
    run = scenario.run
    if run.record_every_s is None:
        every = max(run.step_s, record_every_s or DEFAULT_RECORD_EVERY_S)
        run = run.model_copy(update={"record_every_s": every})
    settings = scenario.settings.model_copy(update={"strategy": strategy})
    return scenario.model_copy(update={"run": run, "settings": settings})


def soc_traces(result: SimulationResult, packs: Sequence[PackSpec]) -> tuple[np.ndarray, pd.DataFrame]:
    """Time (s, from 0) and true SOC per pack (%) of ``result``, a run of ``packs``, with their initial SOC
    as the first sample."""
    wide = result.packs.pivot(index="time_s", columns="pack_id", values="soc_true_pct")
    ids = [p.id for p in packs]
    initial = pd.DataFrame([[p.soc_pct for p in packs]], columns=ids, index=[0.0])
    soc = pd.concat([initial, wide[ids]]).clip(0.0, 100.0)
    return soc.index.to_numpy(float), soc


def _check(years: float, max_years: float, strategies: Sequence[str]) -> None:
    if not (isinstance(years, (int, float)) and 0 < years <= MAX_YEARS_LIMIT):
        raise InputError(f"years: value {years!r} is not allowed: must be > 0 and <= {MAX_YEARS_LIMIT:g}")
    if not (isinstance(max_years, (int, float)) and 0 < max_years <= MAX_YEARS_LIMIT):
        raise InputError(f"max_years: value {max_years!r} is not allowed: must be > 0 and <= {MAX_YEARS_LIMIT:g}")
    if not strategies:
        raise InputError("strategies: empty: name at least one of " + ", ".join(STRATEGIES))
    for name in strategies:
        if name not in STRATEGIES:
            raise InputError(f"strategies: value {name!r} is not allowed: one of {', '.join(STRATEGIES)}")


def _fade_task(task: tuple) -> pd.DataFrame:
    """One pack's fade trajectory (runs in a worker process)."""
    from socbal.lifetime.fade import fade_trajectory

    time_s, soc_pct, temperature_c, years, chemistry = task
    return fade_trajectory(time_s, soc_pct, temperature_c, years, chemistry)


def _fade_all(tasks: list[tuple], workers: int) -> list[pd.DataFrame]:
    """Fade trajectories of all tasks, in order; in ``workers`` forked processes when > 1."""
    if workers <= 1 or len(tasks) <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        return [_fade_task(t) for t in tasks]
    # BLAST-Lite is imported (and patched) before forking, so the workers start warm.
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=context) as pool:
        return list(pool.map(_fade_task, tasks))


def years_to_capacity(years: np.ndarray, capacity_pct: np.ndarray, threshold_pct: float = END_OF_LIFE_PCT) -> float:
    """First time ``capacity_pct`` reaches ``threshold_pct`` (linear between samples); NaN if never."""
    below = np.flatnonzero(capacity_pct <= threshold_pct)
    if len(below) == 0:
        return math.nan
    i = int(below[0])
    if i == 0:
        return float(years[0])
    y0, y1, c0, c1 = years[i - 1], years[i], capacity_pct[i - 1], capacity_pct[i]
    return float(y0 + (y1 - y0) * (c0 - threshold_pct) / (c0 - c1))


def _pack_fade(trajectory: pd.DataFrame, soh_pct: float, years: float) -> dict:
    """Capacity numbers of one pack from its fade trajectory (fractions of a new cell)."""
    t = trajectory.index.to_numpy(float)
    at = {name: float(np.interp(years, t, trajectory[name].to_numpy(float))) for name in trajectory.columns}
    capacity_pct = soh_pct * trajectory["capacity_frac"].to_numpy(float)
    return {
        "capacity_after_pct": soh_pct * at["capacity_frac"],
        "calendar_loss_pct": soh_pct * (1.0 - at["calendar_frac"]),
        "cycle_loss_pct": soh_pct * (1.0 - at["cycle_frac"]),
        "years_to_80_pct": years_to_capacity(t, capacity_pct),
    }


def _fade_grid(trajectory: pd.DataFrame, soh_pct: float, max_years: float) -> pd.DataFrame:
    """The trajectory on a monthly grid, capacity in % of nameplate."""
    t = trajectory.index.to_numpy(float)
    grid = np.arange(0.0, min(max_years, t[-1]) + 1e-9, FADE_GRID_YEARS)
    return pd.DataFrame(
        {
            "years": grid,
            "capacity_pct": soh_pct * np.interp(grid, t, trajectory["capacity_frac"].to_numpy(float)),
            "calendar_loss_pct": soh_pct * (1.0 - np.interp(grid, t, trajectory["calendar_frac"].to_numpy(float))),
            "cycle_loss_pct": soh_pct * (1.0 - np.interp(grid, t, trajectory["cycle_frac"].to_numpy(float))),
        }
    )


def run_study(
    scenario: Scenario,
    years: float = 10.0,
    strategies: Sequence[str] = STRATEGIES,
    max_years: float = DEFAULT_MAX_YEARS,
    record_every_s: float | None = None,
    high_soc_pct: float = 90.0,
    low_soc_pct: float = 10.0,
    fade: bool = True,
    workers: int | None = None,
    on_step: Callable[[str], None] | None = None,
) -> LifetimeStudy:
    """Simulate ``scenario`` once per strategy and work out cycles and capacity fade per pack.

    ``years``: the capacity reported (0-50). ``max_years``: how far the fade trajectory is
    followed to find 80 % (at least ``years``). ``fade=False`` or a missing BLAST-Lite skips
    the fade model (``fade_error`` says why). ``workers``: processes for the fade model
    (default: the CPUs available). ``on_step(text)`` is called as each stage starts.
    """
    from socbal.sim.engine import simulate

    strategies = list(strategies)
    _check(years, max_years, strategies)
    horizon_years = max(years, max_years)
    spec = getattr(scenario, "lifetime", None)
    chemistry = spec.chemistry if spec is not None else "lfp"
    temperature_c = float(spec.temperature_c) if spec is not None else 25.0
    packs = scenario.all_packs
    note = on_step or (lambda text: None)

    runs: dict[str, SimulationResult] = {}
    for strategy in strategies:
        note(f"simulating {strategy}")
        runs[strategy] = simulate(with_strategy(scenario, strategy, record_every_s))
    first = with_strategy(scenario, strategies[0], record_every_s).run  # the run every strategy had
    per_year = DAYS_PER_YEAR * 24.0 / (first.n_steps * first.step_s / 3600.0)
    record_s = first.record_every_s or first.step_s

    pack_rows, dod_frames, tasks = [], [], []
    for strategy, result in runs.items():
        time_s, soc = soc_traces(result, packs)
        by_id = {p["id"]: p for p in result.summary["packs"]}
        for p in packs:
            trace = soc[p.id].to_numpy(float)
            high_s, low_s = time_at_soc_s(trace[1:], record_s, high_soc_pct, low_soc_pct)
            hist = dod_histogram(trace, DEFAULT_DOD_BINS_PCT)
            hist["cycles_per_year"] = hist.pop("cycles") * per_year
            hist.insert(0, "pack_id", p.id)
            hist.insert(0, "strategy", strategy)
            dod_frames.append(hist)
            s = by_id[p.id]
            pack_rows.append(
                {
                    "strategy": strategy,
                    "pack_id": p.id,
                    "capacity_wh": p.capacity_wh,
                    "soh_initial_pct": p.soh_pct,
                    "soc_swing_efc_per_year": soc_swing_efc(trace) * per_year,
                    "deep_cycles_per_year": float(hist.loc[hist.dod_from_pct >= 50, "cycles_per_year"].sum()),
                    "max_dod_pct": float(max(dod_depths(trace), default=0.0)),
                    "mean_soc_pct": float(trace.mean()),
                    "time_high_h_per_year": high_s / 3600.0 * per_year,
                    "time_low_h_per_year": low_s / 3600.0 * per_year,
                    "discharge_kwh_per_year": s["discharge_kwh"] * per_year,
                    "charge_kwh_per_year": s["charge_kwh"] * per_year,
                    "loss_kwh_per_year": pack_loss_kwh(s) * per_year,
                    "capacity_after_pct": math.nan,
                    "calendar_loss_pct": math.nan,
                    "cycle_loss_pct": math.nan,
                    "years_to_80_pct": math.nan,
                }
            )
            tasks.append((time_s, trace, temperature_c, horizon_years, chemistry))
    pack_frame = pd.DataFrame(pack_rows)
    dod = pd.concat(dod_frames, ignore_index=True)

    fade_error = None if fade else "fade model not run (fade=False)"
    fade_frame = pd.DataFrame(columns=["strategy", "pack_id", "years", "capacity_pct", "calendar_loss_pct", "cycle_loss_pct"])
    if fade_error is None:
        fade_error = fade_unavailable_reason()
    if fade_error is None:
        note(f"fade model ({chemistry}, {temperature_c:g} °C, {count(horizon_years, 'year')}, {count(len(tasks), 'pack')})")
        trajectories = _fade_all(tasks, workers if workers is not None else (os.cpu_count() or 1))
        grids = []
        for i, trajectory in enumerate(trajectories):
            soh = float(pack_frame.at[i, "soh_initial_pct"])
            for key, value in _pack_fade(trajectory, soh, years).items():
                pack_frame.at[i, key] = value
            grid = _fade_grid(trajectory, soh, horizon_years)
            grid.insert(0, "pack_id", pack_frame.at[i, "pack_id"])
            grid.insert(0, "strategy", pack_frame.at[i, "strategy"])
            grids.append(grid)
        fade_frame = pd.concat(grids, ignore_index=True)
    for col in ("strategy", "pack_id"):
        for frame in (pack_frame, dod, fade_frame):
            frame[col] = frame[col].astype(str)

    return LifetimeStudy(
        scenario=scenario,
        years=float(years),
        max_years=float(horizon_years),
        chemistry=chemistry,
        temperature_c=temperature_c,
        strategies=strategy_table(pack_frame, runs, per_year),
        packs=pack_frame,
        dod=dod,
        fade=fade_frame,
        runs=runs,
        fade_error=fade_error,
    )


def dod_depths(soc_pct: np.ndarray) -> list[float]:
    """Depths (% SOC) of the rainflow cycles of one SOC trace."""
    import rainflow

    return [float(depth) for depth, _count in rainflow.count_cycles(np.asarray(soc_pct, dtype=float))]


def strategy_table(packs: pd.DataFrame, runs: dict[str, SimulationResult], per_year: float) -> pd.DataFrame:
    """One row per strategy: the first pack's years to 80 %, capacities after the study's years,
    cycling, energy served and losses per year."""
    rows = []
    for strategy, result in runs.items():
        part = packs[packs.strategy == strategy]
        energy = result.summary["energy_kwh"]
        to_80 = part["years_to_80_pct"]
        capacity = part["capacity_after_pct"]
        first = part.loc[to_80.idxmin(), "pack_id"] if to_80.notna().any() else None
        rows.append(
            {
                "strategy": strategy,
                "years_to_80_pct": float(to_80.min()) if to_80.notna().any() else math.nan,
                "first_pack_to_80": first,
                "worst_capacity_pct": float(capacity.min()) if capacity.notna().any() else math.nan,
                "capacity_spread_pct": float(capacity.max() - capacity.min()) if capacity.notna().any() else math.nan,
                "usable_kwh_after": float((part["capacity_wh"] * capacity / 100.0).sum() / WH_PER_KWH),
                "max_soc_swing_efc_per_year": float(part["soc_swing_efc_per_year"].max()),
                "soc_swing_efc_spread_per_year": float(np.ptp(part["soc_swing_efc_per_year"].to_numpy())),
                "energy_served_kwh_per_year": energy["served_by_device"] * per_year,
                "losses_kwh_per_year": float(energy["losses"]) * per_year,
                "grid_import_kwh_per_year": energy["grid_import"] * per_year,
            }
        )
    return pd.DataFrame(rows)
