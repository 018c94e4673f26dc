"""What a comparison returns: tidy DataFrames and a summary, saved atomically as Parquet and JSON.

- ``metrics``: one row per topology (``topology`` = parallel, series, dcdc), one column
  per metric with its unit in the name (see :data:`METRIC_ROWS` and
  :func:`socbal.compare.runs.run_metrics`).
- ``packs``: one row per topology and pack: ``topology``, ``pack_id``,
  ``usable_capacity_wh``, ``initial_soc_pct``, ``final_soc_pct``, ``min_soc_pct``,
  ``max_soc_pct``, ``pack_heat_wh``.
- ``spread``: ``time_s``, ``topology``, ``spread_pct`` (SOC max - min over the packs) at
  the start and at the end of every step.
- ``soc``: ``time_s``, ``topology``, ``pack_id``, ``soc_pct`` at the same moments.
- ``profile``: ``time_s`` (start of the step), ``demand_w`` (the battery demand all three ran).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from socbal.compare.demand import DEMAND_DEFINITION
from socbal.compare.runs import TOPOLOGIES, TOPOLOGY_LABELS, run_metrics, run_topologies
from socbal.errors import InputError
from socbal.resultfiles import read_results, save_results
from socbal.scenario import CompareSpec, Scenario, scenario_from_dict

COMPARE_FILES = (
    "metrics.parquet",
    "packs.parquet",
    "spread.parquet",
    "soc.parquet",
    "profile.parquet",
    "summary.json",
    "scenario.json",
)
_TABLES = tuple(name.removesuffix(".parquet") for name in COMPARE_FILES if name.endswith(".parquet"))

#: Rows of the printed comparison: (label, metrics column, unit, digits).
METRIC_ROWS = (
    ("Energy asked: discharge", "requested_discharge_wh", "Wh", 0),
    ("Energy asked: charge (PV surplus)", "requested_charge_wh", "Wh", 0),
    ("Usable energy delivered", "delivered_wh", "Wh", 0),
    ("Energy absorbed (charging)", "absorbed_wh", "Wh", 0),
    ("Charge demand the main unit took", "main_unit_surplus_wh", "Wh", 0),
    ("Discharge demand not served", "unserved_discharge_wh", "Wh", 0),
    ("Charge demand not taken", "unserved_charge_wh", "Wh", 0),
    ("Stored at the start (energy at zero current)", "stored_start_wh", "Wh", 0),
    ("Stored at the end (energy at zero current)", "stored_end_wh", "Wh", 0),
    ("Heat in the packs (I²R)", "pack_heat_wh", "Wh", 1),
    ("DC-DC conversion loss", "conversion_loss_wh", "Wh", 1),
    ("Standby draw (packs, main unit)", "standby_wh", "Wh", 1),
    ("Total loss (heat + conversion, no standby)", "total_loss_wh", "Wh", 1),
    ("Energy balance residual", "balance_residual_wh", "Wh", 1),
    ("Peak heat in the packs", "peak_pack_heat_w", "W", 1),
    ("Peak circulating current", "peak_circulating_current_a", "A", 2),
    ("Charge circulated pack to pack", "circulating_charge_ah", "Ah", 2),
    ("SOC spread: initial", "initial_spread_pct", "%", 1),
    ("SOC spread: max", "max_spread_pct", "%", 1),
    ("SOC spread: mean over time", "mean_spread_pct", "%", 1),
    ("SOC spread: final", "final_spread_pct", "%", 1),
    ("Time until the first stop (demand not met)", "time_to_first_stop_h", "h", 2),
    ("First pack out of service", "first_pack_stop_h", "h", 2),
)

#: Notes printed under the table; ``{reserve_pct:g}`` is the scenario's backup reserve (see :func:`compare_notes`).
NOTES = (
    "Same packs in all three: usable capacity = capacity_wh x soh_pct, initial SOC, internal_resistance_ohm.",
    DEMAND_DEFINITION,
    "All three stop discharging at the backup reserve, {reserve_pct:g} %: the DC-DC EMS keeps it, and series and "
    "parallel take it as their SOC floor (a parallel pack at the floor leaves the bus until it can charge, a "
    "string stops when its first pack reaches it). All three charge up to 100 %.",
    "Series and parallel have only I²R heat; the DC-DC column also pays DC-DC conversion. The standby draw of the "
    "packs' BMSs and the main unit is real in every connection but modelled only in the DC-DC column: it is shown "
    "in its own row and left out of every column's total loss. Each Wh counts once: absorbed is what went into the "
    "packs; the main unit's draw counts as standby where the packs fed it and as charge demand the main unit took "
    "where a PV surplus fed it (absorbed + main unit + not taken = asked).",
    "Stored energy is what the packs would give at zero current down to 0 % SOC, as each model counts it: the "
    "DC-DC pack model counts SOC as energy (usable capacity x SOC); series and parallel move charge at the packs' "
    "open-circuit voltage, so theirs is the OCV curve integrated over the SOC (the same SOCs can hold a different "
    "energy; both agree at 0 and 100 %). Energy balance residual = stored at the start - stored at the end - "
    "(delivered - absorbed + heat + conversion + standby): DC-DC closes to rounding; series and parallel hold each "
    "pack's OCV over a sub-step (explicit Euler, no OCV moving by more than 0.2 % in one), which leaves the small "
    "residual shown; it shrinks with step_s.",
    "Time until the first stop: when the topology first could not serve the demand (either direction), dated by its "
    "cause: the pack stop within that step (series and parallel time it within the step; the DC-DC EMS sets power "
    "at each step's start, where a DC-DC pack stops), else the end of the step; — means never. First pack out of "
    "service: the first moment one pack stopped taking part.",
)


def compare_notes(backup_reserve_pct: float) -> list[str]:
    """The :data:`NOTES` for a scenario with this backup reserve, %."""
    return [note.replace("{reserve_pct:g}", f"{backup_reserve_pct:g}") for note in NOTES]


@dataclass
class CompareResult:
    """The three runs of one scenario (see the module docstring for the frames)."""

    scenario: Scenario
    metrics: pd.DataFrame
    packs: pd.DataFrame
    spread: pd.DataFrame
    soc: pd.DataFrame
    profile: pd.DataFrame
    summary: dict

    def metric_table(self) -> pd.DataFrame:
        """The comparison as in the spec: one row per metric (label with unit), one column per topology."""
        frame = self.metrics.set_index("topology")
        rows = {f"{label}, {unit}": [frame.loc[t, column] for t in TOPOLOGIES] for label, column, unit, _ in METRIC_ROWS}
        table = pd.DataFrame.from_dict(rows, orient="index", columns=[TOPOLOGY_LABELS[t] for t in TOPOLOGIES])
        return table.astype(float)

    def save(self, out_dir: str | Path) -> Path:
        """Write the result files into ``out_dir``, each atomically (temporary file, then rename)."""
        tables = {name: getattr(self, name) for name in _TABLES}
        return save_results(out_dir, tables, self.summary, self.scenario)

    @classmethod
    def load(cls, folder: str | Path) -> "CompareResult":
        """The comparison :meth:`save` wrote into ``folder``; :class:`InputError` (one line) when it cannot be read."""
        frames, summary, scenario = read_results(folder, _TABLES, "comparison results")
        missing = [column for _, column, _, _ in METRIC_ROWS if column not in frames["metrics"]]
        if missing:
            raise InputError(
                f"{folder}/metrics.parquet: column {missing[0]!r} is missing: written by an older socbal compare "
                "(a metric it lacks, or one it counted differently); run socbal compare again"
            )
        return cls(scenario=scenario_from_dict(scenario, source=f"{folder}/scenario.json"), summary=summary, **frames)


def compare_scenario(scenario: Scenario) -> CompareResult:
    """Run the scenario's packs as a parallel bank, a series string and behind DC-DC modules with socbal's EMS."""
    demand_w, runs = run_topologies(scenario)
    step_s = scenario.run.step_s
    specs = scenario.all_packs
    ids = [p.id for p in specs]
    capacity = np.array([p.usable_capacity_wh for p in specs])
    n = demand_w.shape[0]
    time_s = np.arange(n + 1) * step_s
    metrics = pd.DataFrame([run_metrics(runs[t], demand_w, step_s) for t in TOPOLOGIES])
    packs, spread, soc = [], [], []
    for t in TOPOLOGIES:
        run = runs[t]
        heat_wh = run.pack_heat_w.sum(axis=0) * step_s / 3600.0
        packs.append(
            pd.DataFrame(
                {
                    "topology": t,
                    "pack_id": ids,
                    "usable_capacity_wh": capacity,
                    "initial_soc_pct": run.soc_pct[0],
                    "final_soc_pct": run.soc_pct[-1],
                    "min_soc_pct": run.soc_pct.min(axis=0),
                    "max_soc_pct": run.soc_pct.max(axis=0),
                    "pack_heat_wh": heat_wh,
                }
            )
        )
        spread.append(pd.DataFrame({"time_s": time_s, "topology": t, "spread_pct": np.ptp(run.soc_pct, axis=1)}))
        soc.append(
            pd.DataFrame(
                {
                    "time_s": np.repeat(time_s, len(ids)),
                    "topology": t,
                    "pack_id": np.tile(ids, n + 1),
                    "soc_pct": run.soc_pct.ravel(),
                }
            )
        )
    categories = {"topology": list(TOPOLOGIES), "pack_id": ids}

    def tidy(frames: list[pd.DataFrame]) -> pd.DataFrame:
        frame = pd.concat(frames, ignore_index=True)
        for column, values in categories.items():
            if column in frame:
                frame[column] = pd.Categorical(frame[column], categories=values)
        return frame

    spec = scenario.compare or CompareSpec()
    summary = {
        "scenario": scenario.name,
        "step_s": step_s,
        "horizon_h": n * step_s / 3600.0,
        "backup_reserve_pct": scenario.settings.backup_reserve_pct,
        "chemistry": spec.chemistry,
        "packs": ids,
        "notes": compare_notes(scenario.settings.backup_reserve_pct),
        "topologies": {
            row["topology"]: {k: v for k, v in row.items() if k != "topology"} for row in metrics.to_dict(orient="records")
        },
    }
    return CompareResult(
        scenario=scenario,
        metrics=metrics,
        packs=tidy(packs),
        spread=tidy(spread),
        soc=tidy(soc),
        profile=pd.DataFrame({"time_s": time_s[:-1], "demand_w": demand_w}),
        summary=summary,
    )
