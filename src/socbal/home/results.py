"""Home simulation results: tidy DataFrames and the summary of DESIGN.md "Home results — the contract".

``home``: one row per recorded interval: ``time_s``, ``timestamp`` and :data:`socbal.home.loop.HOME_COLUMNS`.
``devices``: one row per recorded interval and device: ``time_s``, ``timestamp``, ``device_id`` and
:data:`socbal.home.loop.DEVICE_ROW_COLUMNS`. ``packs``: every device's per-pack table (as a one-device
run's ``packs``) with a ``device_id`` column. ``device_flows``: every device's one-device ``device`` table
with ``device_id`` (its household columns — load, import, export, unserved — are 0: those are the home's).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from socbal.home.loop import DEVICE_ROW_COLUMNS, HOME_COLUMNS, HOME_STATS
from socbal.resultfiles import save_results
from socbal.sim.kernel import Records
from socbal.sim.metrics import WH_PER_KWH, losses_kwh, without_rounding
from socbal.sim.results import SimulationResult, build_result

RESULT_FILES = ("home.parquet", "devices.parquet", "packs.parquet", "device_flows.parquet", "summary.json", "scenario.json")


@dataclass
class HomeResult:
    """What one home simulation produced (see the module docstring for the tables)."""

    scenario: "object"  # socbal.home.scenario.HomeScenario
    home: pd.DataFrame
    devices: pd.DataFrame
    packs: pd.DataFrame
    device_flows: pd.DataFrame
    device_results: dict[str, SimulationResult]
    summary: dict

    def save(self, out_dir: str | Path) -> Path:
        """Write the result files into ``out_dir``, each atomically."""
        tables = {"home": self.home, "devices": self.devices, "packs": self.packs, "device_flows": self.device_flows}
        return save_results(out_dir, tables, self.summary, self.scenario)


def _with_device(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Stack per-device tables with a ``device_id`` column after the time columns."""
    ids = list(frames)
    parts = []
    for did, frame in frames.items():
        part = frame.copy()
        part.insert(2, "device_id", pd.Categorical([did] * len(part), categories=ids))
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def build_home_result(
    scenario, first: np.ndarray, count: np.ndarray, records, soc_initial_pct: np.ndarray, soc_est_initial_pct: np.ndarray
) -> HomeResult:
    """Wrap the home loop's records (:class:`socbal.home.loop.HomeRecords`) as DataFrames and compute the summary."""
    home_rec, devices_rec, home_stats = records.home, records.devices, records.home_stats
    run = scenario.run
    n_rec = home_rec.shape[0]
    time_s = np.minimum((np.arange(n_rec) + 1) * run.steps_per_record, run.n_steps) * run.step_s
    timestamp = pd.Timestamp(run.start) + pd.to_timedelta(time_s, unit="s")
    home = pd.DataFrame(home_rec, columns=list(HOME_COLUMNS))
    home.insert(0, "timestamp", timestamp)
    home.insert(0, "time_s", time_s)
    ids = [d.id for d in scenario.devices]
    n_dev = len(ids)
    devices = pd.DataFrame(devices_rec.reshape(n_rec * n_dev, -1), columns=list(DEVICE_ROW_COLUMNS))
    devices.insert(0, "device_id", pd.Categorical(np.tile(ids, n_rec), categories=ids))
    devices.insert(0, "timestamp", np.repeat(timestamp, n_dev))
    devices.insert(0, "time_s", np.repeat(time_s, n_dev))
    device_results = {}
    for d, spec in enumerate(scenario.devices):
        a, b = first[d], first[d] + count[d]
        one = Records(records.pack[:, a:b], records.device[:, d], records.stats[d])
        device_results[spec.id] = build_result(spec.one_device(run), one, soc_initial_pct[a:b], soc_est_initial_pct[a:b])
    packs = _with_device({did: r.packs for did, r in device_results.items()})
    flows = _with_device({did: r.device for did, r in device_results.items()})
    summary = summarize_home(scenario, home, devices, home_stats, device_results)
    return HomeResult(scenario, home, devices, packs, flows, device_results, summary)


def device_energy_kwh(device_results: dict[str, SimulationResult]) -> dict[str, float]:
    """The devices' energies over the run, summed over the devices (kWh): PV, AC in and out, battery (bus side),
    main units, losses (:func:`socbal.sim.metrics.losses_kwh`: conversion, standby and the main units' draw, so that
    PV - curtailed + AC drawn - AC delivered - losses = stored change) and the energy stored in the cells at the start
    and the end."""
    keys = {
        "pv_kwh": "pv",
        "pv_curtailed_kwh": "pv_curtailed",
        "ac_delivered_kwh": "ac_output",
        "ac_drawn_kwh": "grid_to_device",
        "battery_discharge_kwh": "battery_discharge",
        "battery_charge_kwh": "battery_charge",
        "main_unit_kwh": "main_unit",
        "conversion_loss_kwh": "conversion_loss",
        "standby_kwh": "standby",
    }
    out = {name: float(sum(r.summary["energy_kwh"][key] for r in device_results.values())) for name, key in keys.items()}
    out["losses_kwh"] = float(sum(losses_kwh(r.summary["energy_kwh"]) for r in device_results.values()))
    packs = [p for r in device_results.values() for p in r.summary["packs"]]
    out["stored_initial_kwh"] = float(sum(p["initial_soc_pct"] / 100.0 * p["usable_capacity_kwh"] for p in packs))
    out["stored_final_kwh"] = float(sum(p["final_soc_pct"] / 100.0 * p["usable_capacity_kwh"] for p in packs))
    out["stored_change_kwh"] = out["stored_final_kwh"] - out["stored_initial_kwh"]
    return out


def between_devices(value: float, n_devices: int) -> float:
    """A metric between a home's devices (the longest handover gap, s; the device SOC spread, % points) for a home of
    ``n_devices``; NaN (not applicable, null in ``summary.json``) for one device: nothing to hand over to (its runs of
    avoidable import are latency) and no other device to differ from (its spread is 0 by definition)."""
    return value if n_devices > 1 else math.nan


#: The home totals that are balance residuals or differences, stored as 0 when within rounding
#: (:data:`socbal.sim.metrics.ROUNDING_REL` of the home's largest energy total).
HOME_RESIDUAL_KWH = (
    "grid_import_kwh", "export_kwh", "net_import_kwh", "net_import_storage_corrected_kwh", "stored_change_kwh",
    "pv_curtailed_kwh", "avoidable_import_kwh", "avoidable_export_kwh", "cross_charge_kwh", "battery_unserved_kwh",
)  # fmt: skip


def home_without_rounding(metrics: dict) -> dict:
    """A home's metrics with the :data:`HOME_RESIDUAL_KWH` that are float rounding set to 0 (every other kept)."""
    scale_kwh = max(abs(v) for k, v in metrics.items() if k.endswith("_kwh") and isinstance(v, float))
    return without_rounding(metrics, HOME_RESIDUAL_KWH, scale_kwh)


def summarize_home(scenario, home: pd.DataFrame, devices: pd.DataFrame, home_stats: np.ndarray, device_results: dict) -> dict:
    """The home run's summary: the ``home`` object of the contract plus run settings."""
    totals = home.sum(numeric_only=True)
    horizon_h = scenario.run.n_steps * scenario.run.step_s / 3600.0
    n_devices = len(scenario.devices)
    writes = devices.groupby("device_id", observed=True, sort=False)["writes"].sum()
    stat = dict(zip(HOME_STATS, home_stats))
    final_soc = devices.groupby("device_id", observed=True, sort=False)["soc_true_pct"].last()
    flows = device_energy_kwh(device_results)
    grid_import_kwh = float(totals["grid_import_wh"]) / WH_PER_KWH
    export_kwh = float(totals["export_wh"]) / WH_PER_KWH
    home_summary = {
        "load_kwh": float(totals["load_wh"]) / WH_PER_KWH,
        "served_by_storage_kwh": float(totals["served_by_storage_wh"]) / WH_PER_KWH,
        "storage_ac_kwh": float(totals["storage_ac_wh"]) / WH_PER_KWH,
        "grid_import_kwh": grid_import_kwh,
        "export_kwh": export_kwh,
        "net_import_kwh": grid_import_kwh - export_kwh,
        "net_import_storage_corrected_kwh": grid_import_kwh - export_kwh - flows["stored_change_kwh"],
        **flows,
        "avoidable_import_kwh": float(totals["avoidable_import_wh"]) / WH_PER_KWH,
        "avoidable_export_kwh": float(totals["avoidable_export_wh"]) / WH_PER_KWH,
        "cross_charge_kwh": float(totals["cross_charge_wh"]) / WH_PER_KWH,
        "max_handover_gap_s": between_devices(float(stat["max_handover_gap_s"]), n_devices),
        "writes_per_device_per_h": {did: float(writes[did]) / horizon_h for did in writes.index},
        "device_soc_spread_max_pct": between_devices(float(stat["device_soc_spread_max_pct"]), n_devices),
        "device_soc_spread_final_pct": between_devices(float(final_soc.max() - final_soc.min()), n_devices),
        "grid_sign_changes": int(stat["grid_sign_changes"]),
        "setpoint_sign_changes": int(stat["setpoint_sign_changes"]),
        "staging_switches": int(stat["staging_switches"]),
        "meter_stale_s": float(stat["meter_stale_s"]),
        "devices": {did: r.summary for did, r in device_results.items()},
    }
    return {
        "scenario": scenario.name,
        "strategy": scenario.home.strategy,
        "staging": scenario.home.staging,
        "step_s": scenario.run.step_s,
        "horizon_h": horizon_h,
        "home": home_without_rounding(home_summary),
    }
