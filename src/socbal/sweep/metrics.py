"""What a sizing study compares, from each combination's recorded results: energy a year, money, marginal gains.

Energies are scaled to a year (kWh/yr = kWh × 8760 h / horizon); money in the tariff's currency.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from socbal.scenario import TariffSpec
from socbal.sim.metrics import self_sufficiency_pct

WH_PER_KWH = 1000.0
HOURS_PER_YEAR = 8760.0


def case_metrics(result, tariff: TariffSpec | None = None) -> dict[str, float]:
    """Per-year energy, self-sufficiency (%), losses, cycles and (with ``tariff``) the net grid cost of one run."""
    s, dev = result.summary, result.device
    e = s["energy_kwh"]
    per_year = HOURS_PER_YEAR / float(s["horizon_h"])
    cycles = [float(p["throughput_efc"]) * per_year for p in s["packs"]]
    grid_kwh = float(e["grid_import"]) + float(e["grid_to_device"])
    row = {
        "storage_kwh": sum(float(p["usable_capacity_kwh"]) for p in s["packs"]),
        "grid_import_kwh_yr": grid_kwh * per_year,
        "export_kwh_yr": float(e["export"]) * per_year,
        "unserved_kwh_yr": float(e["unserved"]) * per_year,
        "self_sufficiency_pct": self_sufficiency_pct(e),
        "losses_kwh_yr": float(e["losses"]) * per_year,  # the summary's: sim.metrics.losses_kwh
        "cycles_per_pack_yr_mean": float(np.mean(cycles)),
        "cycles_per_pack_yr_max": float(np.max(cycles)),
        "expansion_cycles_yr_mean": float(np.mean(cycles[1:])) if len(cycles) > 1 else np.nan,  # main battery first
    }
    if tariff is not None:
        price = np.asarray(tariff.import_price_by_hour())
        hours = pd.DatetimeIndex(dev["timestamp"] - pd.to_timedelta(1, unit="s")).hour
        import_wh = (dev["grid_import_wh"] + dev["grid_to_device_wh"]).to_numpy()
        cost = float(np.sum(import_wh * price[hours])) / WH_PER_KWH - float(e["export"]) * tariff.feed_in_price_per_kwh
        row["grid_cost_yr"] = cost * per_year
    return row


def marginal_gains(table: pd.DataFrame, pack_price: float | None = None) -> pd.DataFrame:
    """Add, per PV size and strategy, what each added pack count brings over the next smaller one in the table.

    ``saved_kwh_yr``: grid import saved a year; ``gain_kwh_yr_per_kwh``: that per kWh of storage
    added; with a cost column ``saved_money_yr`` and, with ``pack_price``, ``payback_yr`` = price of
    the packs added / money saved a year (NaN when nothing is saved).
    """
    out = table.sort_values(["strategy", "pv_kwp", "packs"], na_position="first").copy()
    keys = ["strategy", "pv_kwp"]
    grouped = out.groupby(keys, dropna=False, sort=False)
    added_packs = grouped["packs"].diff()
    out["saved_kwh_yr"] = -grouped["grid_import_kwh_yr"].diff()
    out["gain_kwh_yr_per_kwh"] = out["saved_kwh_yr"] / grouped["storage_kwh"].diff()
    if "grid_cost_yr" in out:
        out["saved_money_yr"] = -grouped["grid_cost_yr"].diff()
        if pack_price is not None:
            out["payback_yr"] = (added_packs * pack_price / out["saved_money_yr"]).where(out["saved_money_yr"] > 0)
    return out.reset_index(drop=True)
