"""Summary metrics of a simulation: SOC spread, energies, losses and cycling per pack."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from socbal.scenario import Scenario
from socbal.sim.columns import SPREAD_THRESHOLDS_PCT, STATS

WH_PER_KWH = 1000.0

#: Float rounding in balance residuals. An energy total formed as what is left of a balance (curtailed PV, import,
#: export, unserved load: differences of kW-sized flows, step by step) whose magnitude is at most ``ROUNDING_REL``
#: times the run's largest energy total is rounding, not energy (about 1e-17 kWh in a run of a few kWh), and is
#: stored as 0. Totals formed as products (losses, standby) are never rounded away.
ROUNDING_REL = 1e-9
#: The one-device summary's ``energy_kwh`` entries that are balance residuals (see ``ROUNDING_REL``).
RESIDUAL_ENERGIES = (
    "pv_curtailed",
    "export",
    "grid_import",
    "grid_to_device",
    "unserved",
    "battery_unserved",
    "served_by_device",
)


def without_rounding(values: dict, names: tuple[str, ...], scale: float) -> dict:
    """``values`` with each of ``names`` set to 0.0 where its magnitude is at most ``ROUNDING_REL`` x ``scale`` (the
    run's largest energy total, same unit); every other entry and every larger value unchanged."""
    return {k: (float(residual_without_rounding(v, scale)) if k in names else v) for k, v in values.items()}


def residual_without_rounding(values, scale):
    """A balance residual (or an array of them, one per run) with 0.0 where its magnitude is at most ``ROUNDING_REL``
    x ``scale`` (each run's largest energy total, same unit)."""
    return np.where(np.abs(values) <= ROUNDING_REL * np.abs(scale), 0.0, values)


#: The device's losses, by ``energy_kwh`` key: DC-DC and I²R (``conversion_loss``), the packs' own standby draw and the
#: main unit's whole draw (from the bus, its battery or the grid), so that a device's books close:
#: PV used + grid to device - AC output - losses = stored change. Every "losses" figure of a device, a home or a fleet
#: is this one (:func:`losses_kwh`).
LOSS_PARTS = ("conversion_loss", "standby", "main_unit")


def losses_kwh(energy_kwh: Mapping):
    """A device's losses (:data:`LOSS_PARTS` summed) from a summary's ``energy_kwh``, or from any mapping of those keys
    (floats or arrays, one per device; any one unit)."""
    return sum(energy_kwh[name] for name in LOSS_PARTS)


def pack_loss_kwh(pack: Mapping) -> float:
    """One pack's losses from its summary (``summary["packs"][i]``), kWh: DC-DC, I²R, its own standby draw and the
    main unit's draw straight from its battery (main battery only), so that in - out - loss = its stored change.
    Summed over the packs they leave out the part of the main unit's draw that the bus or the grid fed (which the
    packs' "out" or the grid paid): the device's :func:`losses_kwh` holds it."""
    return float(pack["conversion_loss_kwh"]) + float(pack["standby_kwh"]) + float(pack["main_unit_kwh"])


def _points(threshold_pct: float) -> str:
    """A spread threshold in words: "5 points", "1 point"."""
    return f"{threshold_pct:g} point{'' if threshold_pct == 1 else 's'}"


#: The ``spread`` object of a summary as table rows: (label, key, unit). Settles below: the time after which the spread
#: stays below the threshold to the end of the run (0: below throughout; NaN, null in JSON: the run ends above it).
SPREAD_ROWS = (
    ("initial", "initial_pct", "%"),
    ("max", "max_pct", "%"),
    ("final", "final_pct", "%"),
    ("max on estimated SOC", "max_estimated_pct", "%"),
    *((f"settles below {_points(t)}", f"settled_below_{t:g}_h", "h") for t in SPREAD_THRESHOLDS_PCT),
    ("first pack at reserve", "first_reserve_h", "h"),
    ("spread then", "at_first_reserve_pct", "%"),
)

#: What a spread value shows for a one-pack device: the spread is between packs, and there is one.
ONE_PACK = "n/a (one pack)"
#: The ``spread`` keys that apply to a one-pack device too (the others are null in its summary).
SPREAD_KEYS_ONE_PACK = ("first_reserve_h",)


def spread_missing_text(key: str, n_packs: int) -> str:
    """What a null (NaN) ``spread[key]`` of a summary of ``n_packs`` packs means, for a table cell."""
    if n_packs < 2 and key not in SPREAD_KEYS_ONE_PACK:
        return ONE_PACK
    return "never (ends above)" if key.startswith("settled_below_") else "—"


def _hours(seconds: float) -> float:
    """Seconds to hours; NaN stays NaN (the event never happened)."""
    return float(seconds) / 3600.0


def self_sufficiency_pct(energy_kwh: dict) -> float:
    """Share of the household load (%) not covered by the grid: 100 x (1 - grid / load), never below 0; NaN without load.

    "The grid" is everything the home took from it: the house's import, the device's AC charging and its main
    unit fed over the aux module (``grid_to_device``), and load left unserved. Energy that went grid -> battery
    -> house came from the grid (leaving ``grid_to_device`` out called it self-sufficient).
    """
    load = float(energy_kwh.get("load", 0.0))
    if load <= 0:
        return float("nan")
    grid = sum(float(energy_kwh.get(name, 0.0)) for name in ("grid_import", "grid_to_device", "unserved"))
    return max(0.0, 100.0 * (1.0 - grid / load))


def summarize(
    scenario: Scenario,
    packs: pd.DataFrame,
    device: pd.DataFrame,
    stats: np.ndarray,
    soc_initial_pct: np.ndarray,
    soc_est_initial_pct: np.ndarray,
) -> dict:
    """The run's summary as a JSON-ready dict (NaN = the event never happened; in ``spread``, also: one pack, no
    spread; see :data:`SPREAD_ROWS`)."""
    totals = device.drop(columns=["time_s", "timestamp", "spread_true_pct", "spread_est_pct", "total_soc_true_pct"]).sum()
    spread = {
        "initial_pct": float(np.ptp(soc_initial_pct)),
        "max_pct": float(stats[STATS["max_spread_true_pct"]]),
        "final_pct": float(device["spread_true_pct"].iloc[-1]),
        "max_estimated_pct": float(stats[STATS["max_spread_est_pct"]]),
        "first_reserve_h": _hours(stats[STATS["first_reserve_time_s"]]),
        "at_first_reserve_pct": float(stats[STATS["spread_at_first_reserve_pct"]]),
    }
    for threshold in SPREAD_THRESHOLDS_PCT:
        spread[f"settled_below_{threshold:g}_h"] = _hours(stats[STATS[f"settled_below_{threshold:g}_s"]])
    if len(scenario.all_packs) < 2:  # a spread is between packs: none with one (null in summary.json, not 0)
        spread = {k: (v if k in SPREAD_KEYS_ONE_PACK else float("nan")) for k, v in spread.items()}
    energy_kwh = {name.removesuffix("_wh"): float(totals[name]) / WH_PER_KWH for name in totals.index if name.endswith("_wh")}
    energy_kwh["dcdc_loss"] = float(packs["dcdc_loss_wh"].sum()) / WH_PER_KWH
    energy_kwh["i2r_loss"] = float(packs["i2r_loss_wh"].sum()) / WH_PER_KWH
    energy_kwh["conversion_loss"] = energy_kwh["dcdc_loss"] + energy_kwh["i2r_loss"]
    energy_kwh["standby"] = float(packs["standby_wh"].sum()) / WH_PER_KWH  # packs' own draw; main unit apart
    energy_kwh["served_by_device"] = energy_kwh["ac_output"] - energy_kwh["export"]
    energy_kwh["losses"] = losses_kwh(energy_kwh)
    energy_kwh = without_rounding(energy_kwh, RESIDUAL_ENERGIES, max(abs(v) for v in energy_kwh.values()))
    per_pack = packs.groupby("pack_id", observed=True, sort=False)
    last = per_pack.last()
    sums = per_pack[
        ["discharge_wh", "charge_wh", "dcdc_loss_wh", "i2r_loss_wh", "standby_wh", "main_unit_wh", "reserve_standby_s"]
    ].sum()
    pack_summaries = []
    for i, spec in enumerate(scenario.all_packs):
        s = sums.loc[spec.id]
        throughput_kwh = (s["discharge_wh"] + s["charge_wh"]) / WH_PER_KWH
        pack_summaries.append(
            {
                "id": spec.id,
                "usable_capacity_kwh": spec.usable_capacity_wh / WH_PER_KWH,
                "initial_soc_pct": float(soc_initial_pct[i]),
                "initial_soc_estimated_pct": float(soc_est_initial_pct[i]),
                "final_soc_pct": float(last.loc[spec.id, "soc_true_pct"]),
                "final_soc_estimated_pct": float(last.loc[spec.id, "soc_est_pct"]),
                "discharge_kwh": s["discharge_wh"] / WH_PER_KWH,
                "charge_kwh": s["charge_wh"] / WH_PER_KWH,
                "throughput_kwh": throughput_kwh,
                "throughput_efc": throughput_kwh / 2.0 / (spec.usable_capacity_wh / WH_PER_KWH),
                "dcdc_loss_kwh": s["dcdc_loss_wh"] / WH_PER_KWH,
                "i2r_loss_kwh": s["i2r_loss_wh"] / WH_PER_KWH,
                "conversion_loss_kwh": (s["dcdc_loss_wh"] + s["i2r_loss_wh"]) / WH_PER_KWH,
                "standby_kwh": s["standby_wh"] / WH_PER_KWH,
                "main_unit_kwh": s["main_unit_wh"] / WH_PER_KWH,  # the main unit's draw straight from this battery
                "reserve_standby_h": s["reserve_standby_s"] / 3600.0,
            }
        )
        pack_summaries[-1]["loss_kwh"] = pack_loss_kwh(pack_summaries[-1])
    return {
        "scenario": scenario.name,
        "strategy": scenario.settings.strategy,
        "backup_reserve_pct": scenario.settings.backup_reserve_pct,
        "ems_version": scenario.settings.ems_version,
        "step_s": scenario.run.step_s,
        "horizon_h": scenario.run.n_steps * scenario.run.step_s / 3600.0,
        "stopped_h": float(totals["stopped_s"]) / 3600.0,
        "grid_on_h": float(totals["grid_on_s"]) / 3600.0,
        "spread": spread,
        "energy_kwh": energy_kwh,
        "packs": pack_summaries,
    }
