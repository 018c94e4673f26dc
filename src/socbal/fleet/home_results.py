"""A home fleet's results: one row per home and per device, and the distribution of the home pains.

``homes``: ``home``, ``n_devices``, ``load_scale``, ``pv_scale`` and :data:`HOME_METRICS` (as the home summary
defines them, see the README's "Simulating a home"; ``writes_per_device_per_h_max``: the most any of its devices
was written per hour). ``devices``: ``home``, ``device_id``, ``soh_pct_mean`` (over its packs) and
:data:`DEVICE_METRICS`, one row per device a home keeps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from socbal.fleet.home_sample import HomeFleetDraw
from socbal.fleet.results import percentile_row
from socbal.resultfiles import save_results

#: Per-home metrics, in the order the runner fills them.
HOME_METRICS = (
    "load_kwh",
    "pv_kwh",
    "pv_curtailed_kwh",
    "grid_import_kwh",
    "export_kwh",
    "net_import_kwh",
    "net_import_storage_corrected_kwh",
    "stored_change_kwh",
    "served_by_storage_kwh",
    "storage_ac_kwh",
    "avoidable_import_kwh",
    "avoidable_export_kwh",
    "cross_charge_kwh",
    "max_handover_gap_s",
    "battery_unserved_kwh",  # what the devices were asked for and could not give (the grid covered it)
    "losses_kwh",
    "main_unit_kwh",
    "device_soc_spread_max_pct",
    "writes_per_device_per_h_max",
    "staging_switches",
    "meter_stale_s",
)
#: Per-device metrics, in the order the runner fills them.
DEVICE_METRICS = (
    "capacity_kwh",
    "initial_soc_pct",
    "final_soc_pct",
    "discharge_kwh",
    "charge_kwh",
    "conversion_loss_kwh",
    "standby_kwh",
    "battery_unserved_kwh",
    "writes_per_h",
    "staged_on_h",
    "first_reserve_h",  # NaN: never
)
#: The home pains (and what they cost) whose distribution over the fleet is summarised: (column, label).
DISTRIBUTION = (
    ("avoidable_import_kwh", "avoidable import, kWh"),
    ("avoidable_export_kwh", "avoidable export, kWh"),
    ("cross_charge_kwh", "cross-charging, kWh"),
    ("max_handover_gap_s", "longest handover gap (homes of 2+ devices), s"),
    ("battery_unserved_kwh", "unserved by the devices, kWh"),
    ("device_soc_spread_max_pct", "device SOC spread, max (homes of 2+ devices), %"),
    ("losses_kwh", "losses (conversion, standby, main units), kWh"),
    ("net_import_storage_corrected_kwh", "net import, storage-corrected, kWh"),
)


@dataclass
class HomeFleetResult:
    """What a home fleet run produced (see the module docstring for the columns)."""

    scenario: object  # socbal.home.scenario.HomeScenario
    homes: pd.DataFrame
    devices: pd.DataFrame
    summary: dict

    def save(self, out_dir: str | Path) -> Path:
        """Write ``homes.parquet``, ``devices.parquet``, ``summary.json`` and ``scenario.json``, each atomically."""
        return save_results(out_dir, {"homes": self.homes, "devices": self.devices}, self.summary, self.scenario)


def _distribution(values: np.ndarray, label: str) -> dict:
    """:func:`percentile_row` over the homes where the metric applies (NaN: not applicable, as the handover gap of a
    one-device home); all NaN when it applies to none."""
    applies = values[~np.isnan(values)]
    if applies.size == 0:
        return {k: (label if k == "label" else math.nan) for k in percentile_row(np.zeros(1), label)}
    return percentile_row(applies, label)


def build_home_fleet_result(
    scenario, draw: HomeFleetDraw, home_out: np.ndarray, device_out: np.ndarray, seed: int
) -> HomeFleetResult:
    """Wrap the runner's per-home and per-device metrics as tables and summarise the pains' distribution."""
    n_homes, n_max, _ = device_out.shape
    homes = pd.DataFrame(home_out, columns=list(HOME_METRICS))
    homes.insert(0, "pv_scale", draw.pv_scale)
    homes.insert(0, "load_scale", draw.load_scale)
    homes.insert(0, "n_devices", draw.n_devices)
    homes.insert(0, "home", np.arange(n_homes))
    ids = [d.id for d in scenario.devices[:n_max]]
    owner = np.repeat(np.arange(len(scenario.devices)), [len(d.all_packs) for d in scenario.devices])
    soh_mean = np.stack([draw.soh_pct[:, owner == d].mean(axis=1) for d in range(n_max)], axis=1)
    kept = np.arange(n_max)[np.newaxis, :] < draw.n_devices[:, np.newaxis]
    devices = pd.DataFrame(device_out[kept], columns=list(DEVICE_METRICS))
    devices.insert(0, "soh_pct_mean", soh_mean[kept])
    devices.insert(0, "device_id", pd.Categorical(np.array(ids)[np.nonzero(kept)[1]], categories=ids))
    devices.insert(0, "home", np.nonzero(kept)[0])
    distribution = {column: _distribution(homes[column].to_numpy(), label) for column, label in DISTRIBUTION}
    summary = {
        "scenario": scenario.name,
        "homes": n_homes,
        "max_devices": n_max,
        "seed": seed,
        "strategy": scenario.home.strategy,
        "step_s": scenario.run.step_s,
        "horizon_h": scenario.run.n_steps * scenario.run.step_s / 3600.0,
        "distribution": distribution,
    }
    return HomeFleetResult(scenario=scenario, homes=homes, devices=devices, summary=summary)
