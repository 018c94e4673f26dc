"""The report of a home fleet results folder (``socbal fleet HOME.toml``): the pains' distribution, the worst homes.

Reads ``homes.parquet``, ``devices.parquet`` and ``summary.json``; never re-simulates.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from socbal.errors import InputError
from socbal.report.figures import _style
from socbal.report.fleetpage import add_distribution, histograms
from socbal.report.page import ReportPage
from socbal.wording import count

#: Files a home fleet results folder holds.
HOME_FLEET_FILES = ("homes.parquet", "devices.parquet", "summary.json")
#: Histograms on the page: (table, column, axis title).
HISTOGRAMS = (
    ("homes", "avoidable_import_kwh", "avoidable import per home, kWh"),
    ("homes", "cross_charge_kwh", "cross-charging per home, kWh"),
    ("homes", "max_handover_gap_s", "longest handover gap per home of 2+ devices, s"),
    ("homes", "net_import_storage_corrected_kwh", "net import, storage-corrected, kWh"),
)
#: Columns of the worst-homes table, in order.
WORST_COLUMNS = (
    "n_devices",
    "avoidable_import_kwh",
    "avoidable_export_kwh",
    "cross_charge_kwh",
    "max_handover_gap_s",
    "battery_unserved_kwh",
    "device_soc_spread_max_pct",
    "load_scale",
    "pv_scale",
)


def load_home_fleet(folder: Path) -> tuple[pd.DataFrame, dict]:
    """The homes table and the summary of a home fleet results folder."""
    try:
        homes = pd.read_parquet(folder / "homes.parquet")
        summary = json.loads((folder / "summary.json").read_text())
    except (OSError, ValueError) as err:
        raise InputError(f"{folder}: cannot read the home fleet results: {err}".splitlines()[0]) from None
    absent = [c for c in ("home", *WORST_COLUMNS, *(column for _, column, _ in HISTOGRAMS)) if c not in homes]
    if absent or homes.empty:
        raise InputError(
            f"{folder / 'homes.parquet'}: missing {', '.join(absent) or 'rows'}; expected the results of 'socbal fleet HOME.toml'"
        )
    return homes, summary


def home_fleet_report(folder: str | Path, worst: int = 10) -> ReportPage:
    """The page of a home fleet results folder: percentiles, histograms and the ``worst`` homes by avoidable import."""
    folder = Path(folder)
    homes, summary = load_home_fleet(folder)
    page = ReportPage(
        f"socbal home fleet report — {summary.get('scenario', folder.name)}",
        subtitle=f"{count(len(homes), 'home')} of up to {count(summary.get('max_devices', float('nan')), 'device')}, "
        "home strategy "
        f"{summary.get('strategy', '?')}, {summary.get('horizon_h', float('nan')):g} h at "
        f"{summary.get('step_s', float('nan')):g} s, seed {summary.get('seed')}",
    )
    add_distribution(page, summary, "Percentiles over the homes")
    fig = _style(histograms({"homes": homes}, HISTOGRAMS), "Distributions over the homes", None, None, 420)
    fig.update_layout(hovermode="closest", bargap=0.05)
    page.add_figure("histograms", fig)
    page.add_heading("Worst homes")
    shown = homes.sort_values("avoidable_import_kwh", ascending=False).head(worst).set_index("home")[list(WORST_COLUMNS)]
    page.add_table(shown, caption=f"The {count(len(shown), 'home')} with the most avoidable import (of {len(homes)})", digits=2)
    return page
