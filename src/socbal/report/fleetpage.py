"""The report of a fleet results folder (``socbal fleet``): distributions over the devices and the worst ones.

Reads ``devices.parquet``, ``packs.parquet`` and ``summary.json``; never re-simulates.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from socbal.errors import InputError
from socbal.report.figures import SPEC_SPREAD_BAND_PCT, _style, color
from socbal.report.page import ReportPage
from socbal.wording import count

#: Files a fleet results folder holds.
FLEET_FILES = ("devices.parquet", "packs.parquet", "summary.json")
#: Histograms on the page: (table, column, axis title).
HISTOGRAMS = (
    ("devices", "max_spread_pct", "max SOC spread, % points"),
    ("packs", "throughput_efc", "throughput EFC per pack"),
    ("devices", "losses_kwh", "losses (conversion, standby, main unit) per device, kWh"),
)
#: Columns of the worst-devices table, in order.
WORST_COLUMNS = (
    "max_spread_pct",
    "final_spread_pct",
    "first_reserve_h",
    "unserved_kwh",
    "losses_kwh",
    "main_unit_kwh",
    "throughput_efc_max",
    "load_scale",
)


def load_fleet(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """The devices table, the packs table and the summary of a fleet results folder."""
    try:
        devices = pd.read_parquet(folder / "devices.parquet")
        packs = pd.read_parquet(folder / "packs.parquet")
        summary = json.loads((folder / "summary.json").read_text())
    except (OSError, ValueError) as err:
        raise InputError(f"{folder}: cannot read the fleet results: {err}".splitlines()[0]) from None
    absent = [c for c in ("device", *WORST_COLUMNS) if c not in devices]
    if absent or "throughput_efc" not in packs or devices.empty:
        raise InputError(
            f"{folder / 'devices.parquet'}: missing {', '.join(absent) or 'rows'}; expected the results of 'socbal fleet'"
        )
    return devices, packs, summary


def histograms(tables: dict[str, pd.DataFrame], specs: tuple[tuple[str, str, str], ...]) -> go.Figure:
    """One histogram per ``(table, column, axis title)`` of ``specs`` (count of that table's rows), as bars of
    ``numpy.histogram`` counts so that the PNG export draws them too; style it after (hovermode "closest")."""
    fig = make_subplots(rows=1, cols=len(specs), subplot_titles=[title for *_, title in specs])
    for k, (table, column, title) in enumerate(specs):
        values = tables[table][column].dropna().to_numpy(dtype=float)
        counts, edges = np.histogram(values, bins=min(30, max(1, len(np.unique(values)))))
        fig.add_trace(
            go.Bar(
                x=(edges[:-1] + edges[1:]) / 2.0,
                y=counts,
                width=np.diff(edges),
                name=title,
                marker_color=color(k),
                showlegend=False,
                hovertemplate="%{x:.3g}: %{y}<extra></extra>",
            ),
            row=1,
            col=k + 1,
        )
        fig.update_yaxes(title_text=f"{table}", row=1, col=k + 1)
    return fig


def histograms_figure(devices: pd.DataFrame, packs: pd.DataFrame) -> go.Figure:
    """The fleet's :data:`HISTOGRAMS` (count of devices, or of packs for cycles), the spec's spread band marked."""
    fig = histograms({"devices": devices, "packs": packs}, HISTOGRAMS)
    low, high = SPEC_SPREAD_BAND_PCT
    fig.add_vrect(x0=low, x1=high, fillcolor="#2ca02c", opacity=0.12, line_width=0, row=1, col=1)
    _style(fig, "Distributions over the fleet (green: the spec's typical spread 3–15 %)", None, None, 420)
    fig.update_layout(hovermode="closest", bargap=0.05)
    return fig


def add_distribution(page: ReportPage, summary: dict, caption: str) -> None:
    """A "Distribution" section: the summary's percentiles per metric (a fleet's or a home fleet's summary)."""
    page.add_heading("Distribution")
    rows = summary.get("distribution", {})
    if rows:
        table = pd.DataFrame({r["label"]: {k: v for k, v in r.items() if k != "label"} for r in rows.values()}).T
        page.add_table(table.rename_axis("metric"), caption=caption)


def fleet_report(folder: str | Path, worst: int = 10) -> ReportPage:
    """The page of a fleet results folder: percentiles, histograms and the ``worst`` devices by max spread."""
    folder = Path(folder)
    devices, packs, summary = load_fleet(folder)
    page = ReportPage(
        f"socbal fleet report — {summary.get('scenario', folder.name)}",
        subtitle=f"{count(len(devices), 'device')} × {count(summary.get('packs_per_device', float('nan')), 'pack')}, "
        f"{summary.get('horizon_h', float('nan')):g} h at {summary.get('step_s', float('nan')):g} s, seed {summary.get('seed')}",
    )
    add_distribution(page, summary, "Percentiles over the fleet")
    page.add_figure("histograms", histograms_figure(devices, packs))
    page.add_heading("Worst devices")
    shown = devices.sort_values("max_spread_pct", ascending=False).head(worst).set_index("device")[list(WORST_COLUMNS)]
    page.add_table(
        shown, caption=f"The {count(len(shown), 'device')} with the largest max SOC spread (of {len(devices)})", digits=2
    )
    page.add_text("first_reserve_h: — = no pack of that device reached the backup reserve.")
    if summary.get("packs_per_device", 2) < 2:
        page.add_text("One pack per device: a SOC spread is between packs, so every spread is n/a (null), not 0.")
    return page
