"""The report of a home results folder (``socbal simulate HOME.toml``): the pains' metrics, then per device SOC and
power, the setpoints and the home's grid power over time.

Reads ``home.parquet``, ``devices.parquet`` and ``summary.json`` (DESIGN.md "Home results — the contract");
never re-simulates. Powers in W, energies in kWh, SOC in %.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from socbal.errors import InputError
from socbal.home.loop import DEVICE_ROW_COLUMNS, HOME_COLUMNS
from socbal.home.show import HOME_ROWS, NOT_APPLICABLE
from socbal.report.figures import (
    MAX_POINTS,
    _interval_h,
    _style,
    aggregate,
    color,
    labelled_bars,
    style_soc_figure,
    thinning_sentence,
    time_axis,
)
from socbal.report.headline import boxes_html
from socbal.report.page import ReportPage
from socbal.sim.metrics import losses_kwh
from socbal.wording import count

#: Files a home results folder holds (beside packs.parquet, device_flows.parquet and scenario.json).
HOME_FILES = ("home.parquet", "devices.parquet", "summary.json")
#: Per-interval energies of ``home.parquet`` drawn as mean power in the pains figure: (column, label, colour).
PAIN_FLOWS = (
    ("avoidable_import_wh", "avoidable import", "#d62728"),
    ("avoidable_export_wh", "avoidable export", "#17becf"),
    ("cross_charge_wh", "cross-charging", "#9467bd"),
)


@dataclass
class HomeRunData:
    """One home run's recorded results: ``home`` (per interval), ``devices`` (per interval and device), summary."""

    label: str
    home: pd.DataFrame
    devices: pd.DataFrame
    summary: dict
    scenario: dict = field(default_factory=dict)
    folder: Path | None = None

    @property
    def device_ids(self) -> list[str]:
        """Device ids in scenario order."""
        ids = self.devices["device_id"]
        if isinstance(ids.dtype, pd.CategoricalDtype):
            return [str(c) for c in ids.cat.categories]
        return [str(i) for i in pd.unique(ids)]

    @property
    def start(self) -> pd.Timestamp | None:
        """Calendar time of the run's start, from the recorded ``timestamp``."""
        first = self.home.iloc[0]
        return pd.Timestamp(first["timestamp"]) - pd.to_timedelta(float(first["time_s"]), unit="s")

    def device_wide(self, column: str) -> pd.DataFrame:
        """One devices column as a table: index ``time_s``, one column per device (scenario order)."""
        wide = self.devices.pivot_table(index="time_s", columns="device_id", values=column, observed=True, sort=True)
        wide.columns = [str(c) for c in wide.columns]
        return wide[self.device_ids]

    def reserve_pct(self, device_id: str) -> float:
        """The device's backup reserve, %."""
        return float(self.summary["home"]["devices"][device_id]["backup_reserve_pct"])


def load_home(folder: str | Path) -> HomeRunData:
    """Read a home results folder; :class:`InputError` (one line naming the file) when it is not one."""
    folder = Path(folder)
    try:
        home = pd.read_parquet(folder / "home.parquet")
        devices = pd.read_parquet(folder / "devices.parquet")
        summary = json.loads((folder / "summary.json").read_text())
        scenario_file = folder / "scenario.json"
        scenario = json.loads(scenario_file.read_text()) if scenario_file.is_file() else {}
    except (OSError, ValueError) as err:
        raise InputError(f"{folder}: cannot read the home results: {err}".splitlines()[0]) from None
    needs = {
        "home.parquet": (home.columns, ("time_s", "timestamp", *HOME_COLUMNS)),
        "devices.parquet": (devices.columns, ("time_s", "device_id", *DEVICE_ROW_COLUMNS)),
        "summary.json": (summary.get("home", {}) if isinstance(summary, dict) else {}, [key for _, key, _ in HOME_ROWS]),
    }
    for name, (have, wanted) in needs.items():
        absent = [c for c in wanted if c not in have]
        if absent:
            raise InputError(f"{folder / name}: missing {', '.join(absent)}; expected the results of 'socbal simulate HOME.toml'")
    if home.empty or devices.empty:
        raise InputError(f"{folder}: the home results hold no recorded rows; expected at least one recorded interval")
    return HomeRunData(str(summary.get("scenario") or folder.name), home, devices, summary, scenario, folder)


def thinning_note(run: HomeRunData, max_points: int) -> str:
    """What the page did to the recorded intervals, in one sentence (nothing hidden)."""
    return thinning_sentence(
        len(run.home),
        max_points,
        "SOC, power, setpoints and the grid are averaged over bins of about {per_bin} intervals, the weakest pack "
        "and the energies of the pains are taken per bin as its lowest value and its mean power, the device SOC "
        "spread as its maximum",
    )


def _per_device_figure(
    run: HomeRunData, columns: tuple[str, str], how: tuple[str, str], names: tuple[str, str], max_points: int
) -> tuple[go.Figure, str]:
    """Two devices columns per device, binned (``how`` each): the first solid, the second thinner and dashed
    (``names``: the legend's suffixes); returns the figure and the x axis title."""
    solid = aggregate(run.device_wide(columns[0]), max_points, how[0])
    dashed = aggregate(run.device_wide(columns[1]), max_points, how[1])
    x, x_title = time_axis(solid.index, run.start)
    fig = go.Figure()
    for i, did in enumerate(run.device_ids):
        for frame, name, line in ((solid, names[0], dict(width=2)), (dashed, names[1], dict(width=1.4, dash="dash"))):
            fig.add_trace(go.Scatter(x=x, y=frame[did], name=f"{did} {name}", legendgroup=did, line=dict(color=color(i), **line)))
    return fig, x_title


def device_soc_figure(run: HomeRunData, max_points: int = MAX_POINTS) -> go.Figure:
    """Every device's true SOC (solid) and its weakest pack's estimated SOC (dashed, the bin's lowest); each reserve."""
    columns = ("soc_true_pct", "weakest_pack_soc_est_pct")
    fig, x_title = _per_device_figure(run, columns, ("mean", "min"), ("SOC", "weakest pack"), max_points)
    title = "SOC per device (solid: true, capacity-weighted; dashed: its weakest pack, estimated)"
    return style_soc_figure(fig, title, x_title, sorted({run.reserve_pct(did) for did in run.device_ids}))


def device_power_figure(run: HomeRunData, max_points: int = MAX_POINTS) -> go.Figure:
    """Every device's battery power (solid, mean per interval) and its setpoint (dashed, last written)."""
    columns = ("battery_power_w", "setpoint_w")
    fig, x_title = _per_device_figure(run, columns, ("mean", "mean"), ("battery", "setpoint"), max_points)
    fig.add_hline(y=0.0, line=dict(color="#444", width=1))
    _style(fig, "Battery power and setpoint per device (+ discharge, − charge)", x_title, "power, W")
    return fig


def grid_figure(run: HomeRunData, max_points: int = MAX_POINTS) -> go.Figure:
    """The home's grid power (+ import), the household load and the battery request the controller saw."""
    frame = run.home.set_index("time_s")
    hours = _interval_h(frame.index.to_numpy())
    lines = pd.DataFrame(
        {"grid": frame["grid_w"], "load": frame["load_wh"] / np.where(hours > 0, hours, np.nan), "request": frame["request_w"]},
        index=frame.index,
    )
    lines = aggregate(lines, max_points)
    x, x_title = time_axis(lines.index, run.start)
    fig = go.Figure()
    styles = {
        "grid": ("grid power (+ import)", "#7f7f7f", "solid"),
        "load": ("household load", "#000000", "dash"),
        "request": ("battery request (+ discharge)", "#2ca02c", "dot"),
    }
    for column, (name, colour, dash) in styles.items():
        fig.add_trace(go.Scatter(x=x, y=lines[column], name=name, line=dict(color=colour, width=1.5, dash=dash)))
    fig.add_hline(y=0.0, line=dict(color="#444", width=1))
    _style(fig, "Home grid power, load and battery request (mean per interval)", x_title, "power, W")
    return fig


def pains_figure(run: HomeRunData, max_points: int = MAX_POINTS) -> go.Figure:
    """The pains over time as mean power per interval (avoidable import and export, cross-charging) and, in a home of
    several devices, the device SOC spread (max − min of the devices' true SOC) on a second axis."""
    frame = run.home.set_index("time_s")
    hours = _interval_h(frame.index.to_numpy())
    energy = frame[[column for column, _, _ in PAIN_FLOWS]].assign(hours=hours)
    binned = aggregate(energy, max_points, "sum")
    spread = aggregate(frame[["device_soc_spread_pct"]], max_points, "max")
    x, x_title = time_axis(binned.index, run.start)
    fig = go.Figure()
    for column, name, colour in PAIN_FLOWS:
        mean_w = binned[column] / binned["hours"].where(binned["hours"] > 0)
        fig.add_trace(go.Scatter(x=x, y=mean_w, name=name, line=dict(color=colour, width=1.5)))
    if len(run.device_ids) < 2:
        return _style(fig, "The pains over time (mean power per interval)", x_title, "power, W")
    fig.add_trace(
        go.Scatter(
            x=x, y=spread["device_soc_spread_pct"], name="device SOC spread", yaxis="y2", line=dict(color="#444", dash="dot")
        )
    )
    _style(fig, "The pains over time (mean power per interval) and the SOC spread between devices", x_title, "power, W")
    fig.update_layout(
        yaxis2=dict(title="device SOC spread, % points", overlaying="y", side="right", rangemode="tozero"),
        legend=dict(x=1.08),  # right of the second axis
    )
    return fig


def writes_figure(run: HomeRunData) -> go.Figure:
    """Setpoint writes per hour of every device (the pacing's effect), from the summary."""
    writes = run.summary["home"]["writes_per_device_per_h"]
    ids = run.device_ids
    values = [writes[did] for did in ids]
    return labelled_bars(ids, values, 1, "writes per hour", "Setpoint writes per device per hour", "device", "writes / h", 360)


def home_figures(run: HomeRunData, max_points: int = MAX_POINTS) -> dict[str, go.Figure]:
    """Every figure of the home page, by name (also the PNG file names)."""
    return {
        "pains": pains_figure(run, max_points),
        "device_soc": device_soc_figure(run, max_points),
        "device_power": device_power_figure(run, max_points),
        "grid": grid_figure(run, max_points),
        "writes": writes_figure(run),
    }


def _not_applicable(value: float | None) -> bool:
    """Whether a home metric read from ``summary.json`` does not apply (null: one device)."""
    return value is None or math.isnan(value)


def headline_html(run: HomeRunData) -> str:
    """The pains' metrics as a row of boxes (an HTML fragment)."""
    h = run.summary["home"]
    writes = h["writes_per_device_per_h"].values()
    gap_s = h["max_handover_gap_s"]
    gap = NOT_APPLICABLE if _not_applicable(gap_s) else f"{gap_s:.0f} s"
    spread_max, spread_final = h["device_soc_spread_max_pct"], h["device_soc_spread_final_pct"]
    spread = NOT_APPLICABLE if _not_applicable(spread_max) else f"{spread_max:.1f} → {spread_final:.1f} %"
    boxes = [
        ("avoidable import", f"{h['avoidable_import_kwh']:.3f} kWh", "import while a device could have served it"),
        ("avoidable export", f"{h['avoidable_export_kwh']:.3f} kWh", "PV exported while a device could have stored it"),
        ("cross-charging", f"{h['cross_charge_kwh']:.3f} kWh", "into one device while another discharged"),
        ("longest handover gap", gap, "avoidable import above 50 W in a row"),
        ("writes per device", f"{max(writes, default=0.0):.1f} / h", "the most of any device"),
        ("device SOC spread", spread, "max over the run → at the end"),
    ]
    return boxes_html(boxes)


def home_table(run: HomeRunData) -> pd.DataFrame:
    """The home metrics of the summary (as ``socbal simulate`` prints them)."""
    h = run.summary["home"]
    values = [math.nan if h[key] is None else float(h[key]) for _, key, _ in HOME_ROWS]
    units = [NOT_APPLICABLE if math.isnan(v) else unit for v, (*_, unit) in zip(values, HOME_ROWS, strict=True)]
    return pd.DataFrame(
        {"value": values, "unit": units},
        index=pd.Index([label for label, _, _ in HOME_ROWS], name=""),
    )


def devices_table(run: HomeRunData) -> pd.DataFrame:
    """One row per device: final SOC, energy in and out, losses, cycles of its busiest pack, writes and time staged on."""
    h = run.summary["home"]
    staged_h = run.devices.groupby("device_id", observed=True)["staged_on_s"].sum() / 3600.0
    final_soc = run.devices.groupby("device_id", observed=True)["soc_true_pct"].last()
    rows = {}
    for did in run.device_ids:
        d = h["devices"][did]
        energy = d["energy_kwh"]
        rows[did] = {
            "final SOC %": float(final_soc[did]),
            "discharge kWh": float(energy["battery_discharge"]),
            "charge kWh": float(energy["battery_charge"]),
            "losses kWh": float(losses_kwh(energy)),
            "max pack EFC": max(float(p["throughput_efc"]) for p in d["packs"]),
            "writes / h": float(h["writes_per_device_per_h"][did]),
            "staged on h": float(staged_h[did]),
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("device")


def home_report(folder: str | Path, max_points: int = MAX_POINTS) -> ReportPage:
    """The page of a home results folder: the pains' metrics on top, tables, then the figures over time."""
    run = load_home(folder)
    s = run.summary
    page = ReportPage(
        f"socbal home report — {run.label}",
        subtitle=f"home strategy {s.get('strategy')}, staging {s.get('staging')}, {count(len(run.device_ids), 'device')}, "
        f"{float(s.get('horizon_h', float('nan'))):g} h at {float(s.get('step_s', float('nan'))):g} s steps",
    )
    description = run.scenario.get("home", {}).get("description") if isinstance(run.scenario, dict) else None
    if description:
        page.add_text(description)
    page.add_html(headline_html(run))
    page.add_heading("Summary")
    page.add_table(home_table(run), caption="Home", digits=3)
    page.add_table(devices_table(run), caption="Per device", digits=2)
    figures = home_figures(run, max_points)
    page.add_text(thinning_note(run, max_points))
    page.add_heading("Pains over time")
    page.add_figure("pains", figures["pains"])
    page.add_heading("Devices")
    page.add_figure("device_soc", figures["device_soc"])
    page.add_figure("device_power", figures["device_power"])
    page.add_figure("writes", figures["writes"])
    page.add_heading("Grid")
    page.add_figure("grid", figures["grid"])
    page.add_text("Per-pack results of every device are in the folder's packs.parquet and device_flows.parquet.")
    return page
