"""The report of a sizing study (``socbal sweep``): grid import, self-sufficiency and the gain of each added pack.

Reads ``sweep.parquet`` and ``summary.json``; never re-simulates.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from socbal.errors import InputError
from socbal.report.figures import _style, color
from socbal.report.page import ReportPage
from socbal.wording import count

SWEEP_FILES = ("sweep.parquet", "summary.json")
#: Panels of the sizing figure: (column, title).
PANELS = (
    ("grid_import_kwh_yr", "grid import, kWh/yr"),
    ("self_sufficiency_pct", "self-sufficiency, %"),
    ("gain_kwh_yr_per_kwh", "gain of the added pack, kWh/yr per kWh"),
    ("losses_kwh_yr", "losses, kWh/yr"),
)


def load_sweep(folder: Path) -> tuple[pd.DataFrame, dict]:
    """The table and the summary of a sweep results folder."""
    try:
        table = pd.read_parquet(folder / "sweep.parquet")
        summary = json.loads((folder / "summary.json").read_text())
    except (OSError, ValueError) as err:
        raise InputError(f"{folder}: cannot read the sweep results: {err}".splitlines()[0]) from None
    absent = [c for c in ("packs", "pv_kwp", "strategy", *(c for c, _ in PANELS)) if c not in table]
    if absent:
        raise InputError(f"{folder / 'sweep.parquet'}: missing {', '.join(absent)}; expected the results of 'socbal sweep'")
    return table, summary


def sizing_figure(table: pd.DataFrame) -> go.Figure:
    """One panel per metric against the number of expansion packs; one line per PV size and strategy."""
    fig = make_subplots(rows=2, cols=2, subplot_titles=[title for _, title in PANELS], vertical_spacing=0.14)
    groups = list(table.groupby(["strategy", "pv_kwp"], dropna=False, sort=True))
    for k, ((strategy, kwp), part) in enumerate(groups):
        part = part.sort_values("packs")
        for p, (column, _) in enumerate(PANELS):
            fig.add_trace(
                go.Scatter(
                    x=part["packs"],
                    y=part[column],
                    name=f"{kwp:g} kWp · {strategy}",
                    legendgroup=str(k),
                    showlegend=p == 0,
                    mode="lines+markers",
                    line=dict(color=color(k)),
                ),
                row=p // 2 + 1,
                col=p % 2 + 1,
            )
    fig.update_xaxes(title_text="expansion packs", dtick=1)
    _style(fig, "Sizing: what each added pack brings", None, None, 720)
    fig.update_layout(hovermode="closest")
    return fig


def sweep_report(folder: str | Path) -> ReportPage:
    """The page of a sweep results folder: the sizing figure and the table of every combination."""
    folder = Path(folder)
    table, summary = load_sweep(folder)
    currency = summary.get("currency")
    page = ReportPage(
        f"socbal sizing — {summary.get('scenario', folder.name)}",
        subtitle=f"{count(summary.get('combinations', len(table)), 'combination')}, {summary.get('horizon_h', float('nan')):g} h "
        f"at {summary.get('step_s', float('nan')):g} s steps, energies scaled to a year",
    )
    page.add_text(
        "gain: grid import saved a year by this pack count over the next smaller one, per kWh of storage added. "
        "Each added pack also adds its own standby draw, so past the point where storage helps the gain turns "
        "slightly negative."
        + (f" Money in {currency}; payback = price of the added pack / money saved a year." if currency else "")
    )
    page.add_figure("sizing", sizing_figure(table))
    page.add_heading("Every combination")
    page.add_table(table, caption="One row per combination", digits=2, index=False)
    return page
