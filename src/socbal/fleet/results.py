"""A fleet run's results: one row per device and per pack, and the distribution of the key metrics.

``devices``: ``device``, ``load_scale``, ``max_spread_pct``, ``max_spread_estimated_pct``,
``final_spread_pct`` (NaN for one-pack devices: no spread), ``first_reserve_h`` (NaN: never), energies in kWh (``load_kwh``,
``unserved_kwh``, ``grid_import_kwh``, ``battery_unserved_kwh``, ``conversion_loss_kwh``,
``standby_kwh``, ``main_unit_kwh`` (the main unit's whole draw), ``losses_kwh`` = conversion + standby + main unit, as
:func:`socbal.sim.metrics.losses_kwh`) and ``throughput_efc_mean`` /
``throughput_efc_max`` (over the device's packs). ``packs``: ``device``, ``pack_id``,
``usable_capacity_wh``, ``soh_pct``, ``internal_resistance_ohm``, ``sensor_offset_w``,
``initial_soc_pct``, ``final_soc_pct``, ``discharge_kwh``, ``charge_kwh``,
``throughput_efc``, ``conversion_loss_kwh``, ``standby_kwh``, ``reserve_standby_h``.

``throughput_efc``: equivalent full cycles from the bus-side energy throughput,
(discharged + charged) / 2 / usable capacity, as ``socbal simulate`` reports it (the lifetime
study's ``soc_swing_efc`` counts SOC swings instead).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from socbal.device import params as kernel
from socbal.fleet.sample import FleetDraw
from socbal.resultfiles import save_results
from socbal.scenario import Scenario
from socbal.sim.columns import DEVICE, PACK, STATS
from socbal.sim.metrics import losses_kwh, residual_without_rounding

WH_PER_KWH = 1000.0
#: Metrics whose distribution over the fleet is summarised: (table, column, label).
DISTRIBUTION = (
    ("devices", "max_spread_pct", "max SOC spread, %"),
    ("devices", "final_spread_pct", "final SOC spread, %"),
    ("devices", "unserved_kwh", "unserved load, kWh"),
    ("packs", "throughput_efc", "throughput EFC per pack"),
    ("devices", "losses_kwh", "losses (conversion, standby, main unit), kWh"),
)
PERCENTILES = (5, 25, 50, 75, 95, 100)


def percentile_row(values: np.ndarray, label: str) -> dict:
    """One metric's distribution over a fleet: its label, mean and :data:`PERCENTILES`, NaN values (not applicable:
    the spread of a one-pack device) left out; all NaN when none applies."""
    values = values[~np.isnan(values)]
    if values.size == 0:
        return {"label": label, "mean": math.nan, **{f"p{q}": math.nan for q in PERCENTILES}}
    return {"label": label, "mean": float(values.mean()), **{f"p{q}": float(np.percentile(values, q)) for q in PERCENTILES}}


@dataclass
class FleetResult:
    """What a fleet run produced (see the module docstring for the columns)."""

    scenario: Scenario
    devices: pd.DataFrame
    packs: pd.DataFrame
    summary: dict

    def save(self, out_dir: str | Path) -> Path:
        """Write ``devices.parquet``, ``packs.parquet``, ``summary.json`` and ``scenario.json``, each atomically."""
        return save_results(out_dir, {"devices": self.devices, "packs": self.packs}, self.summary, self.scenario)


def build_fleet_result(
    scenario, draw: FleetDraw, pack_out: np.ndarray, dev_out: np.ndarray, stats: np.ndarray, seed: int
) -> FleetResult:
    """Wrap the fleet kernel's whole-run totals as tables and summarise their distribution."""
    n_devices, n_packs, _ = pack_out.shape
    capacity_wh = draw.params[:, :, kernel.PARAM_CAPACITY_WH]
    throughput_wh = pack_out[:, :, PACK["discharge_wh"]] + pack_out[:, :, PACK["charge_wh"]]
    cycles = throughput_wh / 2.0 / capacity_wh
    ids = [p.id for p in scenario.all_packs]
    packs = pd.DataFrame(
        {
            "device": np.repeat(np.arange(n_devices), n_packs),
            "pack_id": pd.Categorical(np.tile(ids, n_devices), categories=ids),
            "usable_capacity_wh": capacity_wh.ravel(),
            "soh_pct": draw.soh_pct.ravel(),
            "internal_resistance_ohm": draw.params[:, :, kernel.PARAM_RESISTANCE_OHM].ravel(),
            "sensor_offset_w": draw.params[:, :, kernel.PARAM_SENSOR_OFFSET_W].ravel(),
            "initial_soc_pct": draw.soc_true0_pct.ravel(),
            "final_soc_pct": pack_out[:, :, PACK["soc_true_pct"]].ravel(),
            "discharge_kwh": pack_out[:, :, PACK["discharge_wh"]].ravel() / WH_PER_KWH,
            "charge_kwh": pack_out[:, :, PACK["charge_wh"]].ravel() / WH_PER_KWH,
            "throughput_efc": cycles.ravel(),
            "conversion_loss_kwh": (pack_out[:, :, PACK["dcdc_loss_wh"]] + pack_out[:, :, PACK["i2r_loss_wh"]]).ravel()
            / WH_PER_KWH,
            "standby_kwh": pack_out[:, :, PACK["standby_wh"]].ravel() / WH_PER_KWH,
            "reserve_standby_h": pack_out[:, :, PACK["reserve_standby_s"]].ravel() / 3600.0,
        }
    )
    energies = [i for name, i in DEVICE.items() if name.endswith("_wh")]
    scale_wh = np.abs(dev_out[:, energies]).max(axis=1)  # each device's largest energy total: what rounding is judged by

    def residual_kwh(name: str) -> np.ndarray:
        return residual_without_rounding(dev_out[:, DEVICE[name]], scale_wh) / WH_PER_KWH

    def spread(values_pct: np.ndarray) -> np.ndarray:  # between packs: NaN (null) for one pack, as in its summary
        return values_pct if n_packs > 1 else np.full(n_devices, math.nan)

    conversion_kwh = (pack_out[:, :, PACK["dcdc_loss_wh"]] + pack_out[:, :, PACK["i2r_loss_wh"]]).sum(axis=1) / WH_PER_KWH
    standby_kwh = pack_out[:, :, PACK["standby_wh"]].sum(axis=1) / WH_PER_KWH
    main_unit_kwh = dev_out[:, DEVICE["main_unit_wh"]] / WH_PER_KWH
    devices = pd.DataFrame(
        {
            "device": np.arange(n_devices),
            "load_scale": draw.load_scale,
            "max_spread_pct": spread(stats[:, STATS["max_spread_true_pct"]]),
            "max_spread_estimated_pct": spread(stats[:, STATS["max_spread_est_pct"]]),
            "final_spread_pct": spread(dev_out[:, DEVICE["spread_true_pct"]]),
            "first_reserve_h": stats[:, STATS["first_reserve_time_s"]] / 3600.0,
            "load_kwh": dev_out[:, DEVICE["load_wh"]] / WH_PER_KWH,
            "unserved_kwh": residual_kwh("unserved_wh"),
            "grid_import_kwh": residual_kwh("grid_import_wh"),
            "battery_unserved_kwh": residual_kwh("battery_unserved_wh"),
            "conversion_loss_kwh": conversion_kwh,
            "standby_kwh": standby_kwh,
            "main_unit_kwh": main_unit_kwh,
            "losses_kwh": losses_kwh({"conversion_loss": conversion_kwh, "standby": standby_kwh, "main_unit": main_unit_kwh}),
            "throughput_efc_mean": cycles.mean(axis=1),
            "throughput_efc_max": cycles.max(axis=1),
        }
    )
    tables = {"devices": devices, "packs": packs}
    distribution = {}
    for table, column, label in DISTRIBUTION:
        distribution[column] = percentile_row(tables[table][column].to_numpy(), label)
    summary = {
        "scenario": scenario.name,
        "devices": n_devices,
        "packs_per_device": n_packs,
        "seed": seed,
        "step_s": scenario.run.step_s,
        "horizon_h": scenario.run.n_steps * scenario.run.step_s / 3600.0,
        "distribution": distribution,
    }
    return FleetResult(scenario=scenario, devices=devices, packs=packs, summary=summary)
