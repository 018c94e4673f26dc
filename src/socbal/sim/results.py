"""Simulation results as tidy DataFrames plus a summary; saved atomically as Parquet and JSON.

``packs``: one row per recorded interval and pack: ``time_s`` (end of interval, s from
start), ``timestamp``, ``pack_id``, the columns of :data:`socbal.sim.columns.PACK_COLUMNS`,
``conversion_loss_wh`` (DC-DC plus I^2 R), ``reason`` (the text of ``reason_code``) and
``state`` (from the mean power). ``device``: one row per recorded interval with
``time_s``, ``timestamp`` and :data:`socbal.sim.columns.DEVICE_COLUMNS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from socbal.ems.kernel import REASON_TEXT
from socbal.resultfiles import save_results
from socbal.scenario import Scenario
from socbal.sim.columns import DEVICE_COLUMNS, PACK_COLUMNS
from socbal.sim.kernel import Records
from socbal.sim.metrics import summarize

RESULT_FILES = ("packs.parquet", "device.parquet", "summary.json", "scenario.json")


@dataclass
class SimulationResult:
    """What one simulation produced (see the module docstring for the columns)."""

    scenario: Scenario
    packs: pd.DataFrame
    device: pd.DataFrame
    summary: dict

    def save(self, out_dir: str | Path) -> Path:
        """Write the result files into ``out_dir``, each atomically (temporary file, then rename)."""
        return save_results(out_dir, {"packs": self.packs, "device": self.device}, self.summary, self.scenario)

    def pack_table(self, column: str) -> pd.DataFrame:
        """One pack column as a wide frame: rows are the recorded intervals (indexed by their end time), one column per pack."""
        wide = self.packs.pivot(index="timestamp", columns="pack_id", values=column)
        wide.columns = wide.columns.astype(str)
        wide.columns.name = None
        wide.index = pd.DatetimeIndex(wide.index, name="timestamp")
        return wide

    def soc(self, estimated: bool = False) -> pd.DataFrame:
        """True SOC in % per pack at the end of each recorded interval (``estimated``: the EMS's estimate)."""
        return self.pack_table("soc_est_pct" if estimated else "soc_true_pct")

    def power(self) -> pd.DataFrame:
        """Mean DC power in W per pack over each recorded interval (> 0 discharges, < 0 charges)."""
        return self.pack_table("power_w")


def _state(power_w: np.ndarray) -> np.ndarray:
    """State name per mean power (W): discharging, charging or standby."""
    return np.where(power_w > 1e-9, "discharging", np.where(power_w < -1e-9, "charging", "standby"))


def build_result(
    scenario: Scenario, records: Records, soc_initial_pct: np.ndarray, soc_est_initial_pct: np.ndarray
) -> SimulationResult:
    """Wrap the compiled engine's records as DataFrames and compute the summary."""
    pack_rec = records.pack
    n_rec, n_packs, _ = pack_rec.shape
    run = scenario.run
    time_s = np.minimum((np.arange(n_rec) + 1) * run.steps_per_record, run.n_steps) * run.step_s
    timestamp = pd.Timestamp(run.start) + pd.to_timedelta(time_s, unit="s")
    ids = [p.id for p in scenario.all_packs]
    packs = pd.DataFrame(pack_rec.reshape(n_rec * n_packs, -1), columns=list(PACK_COLUMNS))
    packs.insert(0, "pack_id", pd.Categorical(np.tile(ids, n_rec), categories=ids))
    packs.insert(0, "timestamp", np.repeat(timestamp, n_packs))
    packs.insert(0, "time_s", np.repeat(time_s, n_packs))
    packs["conversion_loss_wh"] = packs["dcdc_loss_wh"] + packs["i2r_loss_wh"]
    packs["reason_code"] = packs["reason_code"].astype(np.int64)
    packs["reason"] = pd.Categorical(packs["reason_code"].map(REASON_TEXT), categories=list(REASON_TEXT.values()))
    packs["state"] = _state(packs["power_w"].to_numpy())
    device = pd.DataFrame(records.device, columns=list(DEVICE_COLUMNS))
    device.insert(0, "timestamp", timestamp)
    device.insert(0, "time_s", time_s)
    summary = summarize(scenario, packs, device, records.stats, soc_initial_pct, soc_est_initial_pct)
    return SimulationResult(scenario=scenario, packs=packs, device=device, summary=summary)
