"""Plotly figures of one run and of several runs; each function reads recorded results, never physics.

Long runs are aggregated to at most ``max_points`` points per trace: SOC and power are
averaged over each time bin, the SOC spread takes the bin's maximum (so peaks stay visible),
energies are summed and shown as mean power.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from socbal.report.data import RunData, RunLike, as_run, as_runs
from socbal.sim.metrics import ONE_PACK

#: The spec's typical SOC spread in normal operation, % points (spec section "SOC difference").
SPEC_SPREAD_BAND_PCT = (3.0, 15.0)
#: Default upper bound on points per trace.
MAX_POINTS = 2000
#: Colours, cycled: one per pack, or one per run in comparisons.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
TEMPLATE = "plotly_white"
WH_PER_KWH = 1000.0


def color(i: int) -> str:
    """The i-th colour of :data:`PALETTE` (cycled)."""
    return PALETTE[i % len(PALETTE)]


def _style(fig: go.Figure, title: str, x_title: str | None = None, y_title: str | None = None, height_px: int = 420) -> go.Figure:
    """The report's common look: template, title, axis titles, legend, margins."""
    fig.update_layout(
        template=TEMPLATE,
        title=dict(text=title, x=0.01),
        height=height_px,
        margin=dict(l=70, r=30, t=60, b=55),
        hovermode="x unified",
        legend=dict(orientation="v", x=1.01, y=1.0),
    )
    if x_title:
        fig.update_xaxes(title_text=x_title)
    if y_title:
        fig.update_yaxes(title_text=y_title)
    return fig


def style_soc_figure(fig: go.Figure, title: str, x_title: str, reserves_pct: Iterable[float]) -> go.Figure:
    """:func:`_style` for a SOC figure: a dotted line at each backup reserve (%), the SOC axis from 0 to 100 %."""
    for reserve in reserves_pct:
        fig.add_hline(
            y=reserve,
            line=dict(color="#444", width=1, dash="dot"),
            annotation_text=f"backup reserve {reserve:g} %",
            annotation_position="bottom right",
        )
    _style(fig, title, x_title, "SOC, %")
    fig.update_yaxes(range=[0, 100])
    return fig


def add_spec_band(fig: go.Figure) -> go.Figure:
    """Shade the spec's typical SOC spread (:data:`SPEC_SPREAD_BAND_PCT`) across the plot, labelled."""
    low, high = SPEC_SPREAD_BAND_PCT
    fig.add_hrect(
        y0=low,
        y1=high,
        fillcolor="#2ca02c",
        opacity=0.12,
        line_width=0,
        annotation_text=f"spec: typical spread {low:g}–{high:g} %",
        annotation_position="top left",
    )
    return fig


# --- time axis and aggregation ------------------------------------------------------------------


def time_axis(time_s: np.ndarray | pd.Index, start: pd.Timestamp | None = None) -> tuple[np.ndarray, str]:
    """The x axis of a time series: calendar dates from ``start`` when the run has one, else elapsed
    time in a readable unit (hours up to 3 days, days beyond). Returns (values, axis title)."""
    t = np.asarray(time_s, dtype=float)
    if start is not None:
        return (start + pd.to_timedelta(t, unit="s")).to_numpy(), "date"
    if t.size and t.max() > 72 * 3600.0:
        return t / 86400.0, "time since start, d"
    return t / 3600.0, "time since start, h"


def _bins(n: int, max_points: int) -> np.ndarray:
    """Bin number of each of ``n`` consecutive rows so that there are at most ``max_points`` bins."""
    if n <= max_points:
        return np.arange(n)
    return (np.arange(n) * max_points) // n


def thinning_sentence(n: int, max_points: int, how: str) -> str:
    """What a page did to its ``n`` recorded intervals, in one sentence: ``how`` says, with ``{per_bin}`` for the
    intervals per bin, how each curve was binned (nothing hidden)."""
    if n <= max_points:
        return "The one recorded interval is drawn." if n == 1 else f"Every one of the {n} recorded intervals is drawn."
    per_bin = -(-n // max_points)
    return (
        f"{n} recorded intervals, drawn as at most {max_points} points per curve: {how.format(per_bin=per_bin)}. "
        "The tables and headline numbers use every interval."
    )


def aggregate(frame: pd.DataFrame, max_points: int = MAX_POINTS, how: str | Mapping[str, str] = "mean") -> pd.DataFrame:
    """Aggregate a time-indexed frame (index ``time_s``) into at most ``max_points`` rows.

    Each bin is labelled with its last time; ``how`` is a pandas aggregation name, or one per column.
    """
    if len(frame) <= max_points:
        return frame
    groups = frame.groupby(_bins(len(frame), max_points))
    out = groups.agg(how if isinstance(how, str) else dict(how))
    out.index = pd.Index(groups.apply(lambda g: g.index[-1]).to_numpy(), name=frame.index.name)
    return out


def pack_wide(run: RunData, column: str) -> pd.DataFrame:
    """One packs column as a table: index ``time_s``, one column per pack id (scenario order)."""
    wide = run.packs.pivot_table(index="time_s", columns="pack_id", values=column, observed=True, sort=True)
    wide.columns = [str(c) for c in wide.columns]
    return wide[[p for p in run.pack_ids if p in wide.columns]]


def _interval_h(time_s: np.ndarray) -> np.ndarray:
    """Length of each recorded interval, h (rows hold the interval's end time)."""
    t = np.asarray(time_s, dtype=float)
    return np.diff(t, prepend=0.0) / 3600.0


def _flows_w(run: RunData) -> pd.DataFrame:
    """Device energy flows per recorded interval as mean power, W (index ``time_s``)."""
    dev = run.device.set_index("time_s")
    losses_wh = pack_wide(run, "conversion_loss_wh").sum(axis=1) + pack_wide(run, "standby_wh").sum(axis=1)
    flows_wh = pd.DataFrame(
        {
            "load": dev["load_wh"],
            "PV": dev["pv_wh"] - dev.get("pv_curtailed_wh", 0.0),
            "grid import (load)": dev.get("grid_import_wh", 0.0),
            "grid to device": dev.get("grid_to_device_wh", 0.0),
            "export": dev.get("export_wh", 0.0),
            "batteries discharge": dev.get("battery_discharge_wh", 0.0),
            "batteries charge": -dev.get("battery_charge_wh", 0.0),
            "losses": losses_wh.reindex(dev.index).to_numpy(),
            "main unit": dev.get("main_unit_wh", 0.0),
        },
        index=dev.index,
    )
    hours = _interval_h(dev.index.to_numpy())
    return flows_wh.div(np.where(hours > 0, hours, np.nan), axis=0)


# --- one run ------------------------------------------------------------------------------------


def soc_figure(run: RunLike, max_points: int = MAX_POINTS) -> go.Figure:
    """SOC of every pack over time: true (solid) and estimated by the EMS (dashed); the reserve marked."""
    run = as_run(run)
    true = aggregate(pack_wide(run, "soc_true_pct"), max_points)
    est = aggregate(pack_wide(run, "soc_est_pct"), max_points)
    x, x_title = time_axis(true.index, run.start)
    fig = go.Figure()
    for i, pack in enumerate(true.columns):
        fig.add_trace(
            go.Scatter(x=x, y=true[pack], name=f"{pack} true", legendgroup=pack, mode="lines", line=dict(color=color(i), width=2))
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=est[pack],
                name=f"{pack} estimated",
                legendgroup=pack,
                mode="lines",
                line=dict(color=color(i), width=1.5, dash="dash"),
            )
        )
    return style_soc_figure(fig, "SOC of every pack (solid: true, dashed: estimated by the EMS)", x_title, [run.reserve_pct])


def has_spread(run: RunData) -> bool:
    """Whether the run has a SOC spread: it is between packs, and a one-pack device has one pack."""
    return len(run.pack_ids) > 1


def no_spread_figure(run: RunData, title: str) -> go.Figure:
    """What a spread figure of a one-pack run shows: that it has none (a flat 0 would read as perfect balance)."""
    fig = go.Figure()
    note = f"n/a: one pack ({run.pack_ids[0]}), no spread"
    fig.add_annotation(text=note, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    _style(fig, f"{title}: {ONE_PACK}", None, None)
    return fig.update_xaxes(visible=False).update_yaxes(visible=False)


def spread_figure(run: RunLike, max_points: int = MAX_POINTS) -> go.Figure:
    """SOC spread (max - min over the packs) over time, with the spec's 3-15 % band and the reserve marked.

    Shaded in grey (every span, as a filled trace): bins in which at least one pack was held at
    the backup reserve; the dotted vertical line is the first time a pack reached it.
    """
    run = as_run(run)
    if not has_spread(run):
        return no_spread_figure(run, "SOC spread (max − min over the packs)")
    dev = run.device.set_index("time_s")[["spread_true_pct", "spread_est_pct"]]
    at_reserve = (
        (pack_wide(run, "reserve_standby_s") > 0).any(axis=1).astype(float)
        if "reserve_standby_s" in run.packs
        else pd.Series(0.0, index=dev.index)
    )
    dev = dev.assign(at_reserve=at_reserve.reindex(dev.index).fillna(0.0).to_numpy())
    dev = aggregate(dev, max_points, {"spread_true_pct": "max", "spread_est_pct": "max", "at_reserve": "max"})
    x, x_title = time_axis(dev.index, run.start)
    fig = go.Figure()
    high = SPEC_SPREAD_BAND_PCT[1]
    add_spec_band(fig)
    top = max(float(np.nanmax(dev[["spread_true_pct", "spread_est_pct"]].to_numpy(), initial=0.0)), high) * 1.08
    if (dev["at_reserve"] > 0).any():
        fig.add_trace(
            go.Scatter(
                x=x,
                y=np.where(dev["at_reserve"].to_numpy() > 0, top, 0.0),
                name="pack at reserve",
                mode="lines",
                line=dict(width=0, shape="vh"),
                fill="tozeroy",
                fillcolor="rgba(127,127,127,0.18)",
                hoverinfo="skip",
            )
        )
    fig.add_trace(
        go.Scatter(x=x, y=dev["spread_true_pct"], name="spread, true SOC", mode="lines", line=dict(color="#d62728", width=2))
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=dev["spread_est_pct"],
            name="spread, estimated SOC",
            mode="lines",
            line=dict(color="#1f77b4", width=1.5, dash="dash"),
        )
    )
    first_h = run.summary.get("spread", {}).get("first_reserve_h")
    if first_h is not None and math.isfinite(first_h):
        first_x, _ = time_axis(np.array([first_h * 3600.0]), run.start)
        fig.add_vline(
            x=first_x[0] if run.start is None else pd.Timestamp(first_x[0]).isoformat(),
            line=dict(color="#444", width=1, dash="dot"),
            annotation_text=f"first pack at reserve ({run.reserve_pct:g} %)",
            annotation_position="top right",
        )
    _style(fig, "SOC spread (max − min over the packs)", x_title, "spread, % points")
    fig.update_yaxes(range=[0, top])
    return fig


def power_figure(run: RunLike, max_points: int = MAX_POINTS) -> go.Figure:
    """Bus-side power of every pack, stacked: discharge above zero, charge below."""
    run = as_run(run)
    power = aggregate(pack_wide(run, "power_w"), max_points)
    x, x_title = time_axis(power.index, run.start)
    fig = go.Figure()
    for direction, part in (("discharge", power.clip(lower=0.0)), ("charge", power.clip(upper=0.0))):
        if not (part.abs().to_numpy() > 1e-9).any():
            continue
        for i, pack in enumerate(power.columns):
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=part[pack],
                    name=pack,
                    legendgroup=pack,
                    stackgroup=direction,
                    mode="lines",
                    line=dict(color=color(i), width=0.5),
                    fillcolor=color(i),
                    showlegend=direction == "discharge" or not (power.to_numpy() > 1e-9).any(),
                    hovertemplate=f"{pack} {direction}: %{{y:.0f}} W<extra></extra>",
                )
            )
    fig.add_hline(y=0.0, line=dict(color="#444", width=1))
    _style(fig, "Power per pack, stacked (bus side; + discharge, − charge)", x_title, "power, W")
    return fig


def energy_flows_figure(run: RunLike, max_points: int = MAX_POINTS) -> go.Figure:
    """Device energy flows over time as mean power per interval: PV, load, grid, batteries, losses."""
    run = as_run(run)
    flows = aggregate(_flows_w(run), max_points)
    x, x_title = time_axis(flows.index, run.start)
    styles = {
        "PV": ("#ffbf00", "solid"),
        "grid import (load)": ("#7f7f7f", "solid"),
        "grid to device": ("#7f7f7f", "dot"),
        "export": ("#17becf", "solid"),
        "batteries discharge": ("#2ca02c", "solid"),
        "batteries charge": ("#9467bd", "solid"),
        "losses": ("#d62728", "solid"),
        "main unit": ("#8c564b", "dot"),
        "load": ("#000000", "dash"),
    }
    fig = go.Figure()
    for name, (col, dash) in styles.items():
        series = flows[name]
        if not (series.abs() > 1e-9).any():
            continue  # a flow that never happened only clutters the legend
        fig.add_trace(go.Scatter(x=x, y=series, name=name, mode="lines", line=dict(color=col, width=1.5, dash=dash)))
    _style(
        fig,
        "Device energy flows (mean power per interval; battery charge negative; losses: DC-DC, I²R and pack standby)",
        x_title,
        "power, W",
    )
    return fig


#: Energy totals shown as bars: (label, key in summary["energy_kwh"]).
ENERGY_TOTALS = (
    ("household load", "load"),
    ("served by the device", "served_by_device"),
    ("grid import", "grid_import"),
    ("unserved load", "unserved"),
    ("PV", "pv"),
    ("PV curtailed", "pv_curtailed"),
    ("export", "export"),
    ("grid to device", "grid_to_device"),
    ("battery discharge", "battery_discharge"),
    ("battery charge", "battery_charge"),
    ("DC-DC and I²R loss", "conversion_loss"),
    ("pack standby", "standby"),
    ("main unit", "main_unit"),
)


def energy_totals_figure(run: RunLike) -> go.Figure:
    """Whole-run energy per flow, kWh (from the summary)."""
    run = as_run(run)
    energy = run.summary["energy_kwh"]
    rows = [(label, float(energy[key])) for label, key in ENERGY_TOTALS if key in energy and energy[key] is not None]
    fig = go.Figure(
        go.Bar(
            x=[v for _, v in rows],
            y=[label for label, _ in rows],
            orientation="h",
            marker_color="#1f77b4",
            text=[f"{v:.3f}" for _, v in rows],
            textposition="outside",
            name="energy",
        )
    )
    _style(fig, "Energy over the whole run", "energy, kWh", None, height_px=460)
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(hovermode="closest", showlegend=False)
    return fig


def labelled_bars(
    labels: list[str], values: list[float], digits: int, name: str, title: str, x_title: str, y_title: str, height_px: int
) -> go.Figure:
    """One bar per label in the palette's colours, its value (``digits`` decimals) written above it; no legend."""
    fig = go.Figure(
        go.Bar(
            x=labels,
            y=values,
            marker_color=[color(i) for i in range(len(labels))],
            text=[f"{v:.{digits}f}" for v in values],
            textposition="outside",
            name=name,
        )
    )
    _style(fig, title, x_title, y_title, height_px=height_px)
    fig.update_layout(hovermode="closest", showlegend=False)
    return fig


def cycles_figure(run: RunLike) -> go.Figure:
    """Throughput equivalent full cycles of every pack over the run ((discharged + charged) / 2 / usable capacity)."""
    run = as_run(run)
    packs = run.summary["packs"]
    ids = [p["id"] for p in packs]
    cycles = [float(p["throughput_efc"]) for p in packs]
    fig = labelled_bars(ids, cycles, 3, "cycles", "Throughput equivalent full cycles per pack", "pack", "throughput EFC", 380)
    fig.update_yaxes(range=[0, max(cycles + [1e-6]) * 1.2])
    return fig


def run_figures(run: RunLike, max_points: int = MAX_POINTS) -> dict[str, go.Figure]:
    """All figures of one run's report, by name (the names are also the PNG file names)."""
    run = as_run(run)
    return {
        "soc": soc_figure(run, max_points),
        "spread": spread_figure(run, max_points),
        "power": power_figure(run, max_points),
        "energy_flows": energy_flows_figure(run, max_points),
        "energy_totals": energy_totals_figure(run),
        "cycles": cycles_figure(run),
    }


# --- several runs -------------------------------------------------------------------------------


def comparison_table(runs: Iterable[RunLike] | Mapping[str, RunLike]) -> pd.DataFrame:
    """One row per run (index ``run``), the headline metrics as columns with units in their names."""
    rows = {}
    for run in as_runs(runs):
        s, e, packs = run.summary["spread"], run.summary["energy_kwh"], run.summary["packs"]
        cycles = [p["throughput_efc"] for p in packs]
        rows[run.label] = {
            "strategy": run.summary.get("strategy"),
            "max_spread_pct": s.get("max_pct"),
            "final_spread_pct": s.get("final_pct"),
            "spread_settled_below_3_h": s.get("settled_below_3_h"),
            "first_reserve_h": s.get("first_reserve_h"),
            "spread_at_first_reserve_pct": s.get("at_first_reserve_pct"),
            "served_by_device_kwh": e.get("served_by_device"),
            "grid_import_kwh": e.get("grid_import"),
            "unserved_kwh": e.get("unserved"),
            "conversion_loss_kwh": e.get("conversion_loss"),
            "standby_kwh": e.get("standby"),
            "max_pack_cycles": max(cycles) if cycles else float("nan"),
            "min_pack_cycles": min(cycles) if cycles else float("nan"),
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "run"
    return table.astype({c: float for c in table.columns if c != "strategy"})


def metrics_figure(
    table: pd.DataFrame,
    metrics: Sequence[str] | None = None,
    label: str | None = None,
    group: str | None = None,
    title: str = "Comparison",
    columns: int = 3,
) -> go.Figure:
    """Bar charts of metrics from a comparison table: one panel per metric.

    ``table`` is wide (one row per case, one numeric column per metric, e.g. from
    :func:`comparison_table`) or tidy with ``metric`` and ``value`` columns (one row per case
    and metric). ``label`` names the column (or the index, when ``None``) holding the cases on
    the x axis, e.g. ``"strategy"``; ``group`` optionally a column whose values get one colour
    each, e.g. ``"topology"`` (grouped bars). ``metrics`` selects and orders the panels.
    """
    frame = table.reset_index() if label is None else table.copy()
    label = label or (table.index.name or "index")
    if {"metric", "value"} <= set(frame.columns):
        keys = [label] + ([group] if group else [])
        frame = frame.pivot_table(index=keys, columns="metric", values="value", sort=False).reset_index()
    numeric = [c for c in frame.columns if c not in (label, group) and pd.api.types.is_numeric_dtype(frame[c])]
    metrics = [m for m in (metrics or numeric) if m in frame.columns]
    if not metrics:
        raise ValueError("no numeric metric columns to plot")
    columns = max(1, min(columns, len(metrics)))
    rows = math.ceil(len(metrics) / columns)
    titles = [m.replace("_", " ") for m in metrics] if len(metrics) > 1 else None
    fig = make_subplots(
        rows=rows, cols=columns, subplot_titles=titles, vertical_spacing=min(0.5 / rows, 0.12), horizontal_spacing=0.08
    )
    groups = list(pd.unique(frame[group])) if group else [None]
    for k, metric in enumerate(metrics):
        r, c = divmod(k, columns)
        for g, value in enumerate(groups):
            part = frame if value is None else frame[frame[group] == value]
            fig.add_trace(
                go.Bar(
                    x=part[label].astype(str),
                    y=part[metric],
                    name=str(value if value is not None else metric),
                    legendgroup=str(value),
                    showlegend=bool(group) and k == 0,
                    marker_color=color(g) if group else [color(i) for i in range(len(part))],
                ),
                row=r + 1,
                col=c + 1,
            )
    _style(
        fig,
        title,
        x_title=label if len(metrics) == 1 else None,
        y_title=metrics[0].replace("_", " ") if len(metrics) == 1 else None,
        height_px=max(320, 280 * rows),
    )
    fig.update_layout(barmode="group", hovermode="closest", showlegend=bool(group))
    return fig


def lines_figure(
    frame: pd.DataFrame,
    x: str,
    y: str,
    color_by: str | None = None,
    dash_by: str | None = None,
    title: str = "",
    x_title: str | None = None,
    y_title: str | None = None,
    max_points: int = MAX_POINTS,
) -> go.Figure:
    """Lines from a tidy DataFrame: ``y`` against ``x``, one colour per ``color_by`` value and one
    dash pattern per ``dash_by`` value (e.g. capacity against years per strategy and pack)."""
    dashes = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
    colours = list(pd.unique(frame[color_by])) if color_by else [None]
    dash_values = list(pd.unique(frame[dash_by])) if dash_by else [None]
    fig = go.Figure()
    for ci, cv in enumerate(colours):
        for di, dv in enumerate(dash_values):
            part = frame
            if cv is not None:
                part = part[part[color_by] == cv]
            if dv is not None:
                part = part[part[dash_by] == dv]
            if part.empty:
                continue
            part = part.iloc[:: max(1, math.ceil(len(part) / max_points))]
            name = " · ".join(str(v) for v in (cv, dv) if v is not None) or y
            fig.add_trace(
                go.Scatter(
                    x=part[x],
                    y=part[y],
                    name=name,
                    mode="lines",
                    legendgroup=str(cv),
                    line=dict(color=color(ci), dash=dashes[di % len(dashes)], width=2),
                )
            )
    return _style(fig, title, x_title or x, y_title or y)


def _overlay(runs: list[RunData], values, title: str, y_title: str, max_points: int, how: str) -> go.Figure:
    """One line per run of a per-interval device quantity."""
    fig = go.Figure()
    x_title = "time since start, h"
    for i, run in enumerate(runs):  # dates only when every run starts at the same time
        start = run.start if len({r.start for r in runs}) == 1 else None
        series = aggregate(values(run), max_points, how)
        x, x_title = time_axis(series.index, start)
        fig.add_trace(go.Scatter(x=x, y=series.to_numpy(), name=run.label, mode="lines", line=dict(color=color(i), width=2)))
    return _style(fig, title, x_title, y_title)


def comparison_figures(runs: Iterable[RunLike] | Mapping[str, RunLike], max_points: int = MAX_POINTS) -> dict[str, go.Figure]:
    """Figures comparing several runs (e.g. strategy against strategy), by name.

    ``spread`` and ``total_soc`` overlay the runs over time; ``cycles`` groups the packs'
    throughput equivalent full cycles by run; ``metrics`` shows :func:`comparison_table` as bars.
    """
    runs = as_runs(runs)
    spread = _overlay(
        runs,
        lambda r: r.device.set_index("time_s")["spread_true_pct"],
        "SOC spread (true SOC, max − min over the packs)",
        "spread, % points",
        max_points,
        "max",
    )
    add_spec_band(spread)
    figures = {"spread": spread}
    if all("total_soc_true_pct" in r.device for r in runs):
        figures["total_soc"] = _overlay(
            runs,
            lambda r: r.device.set_index("time_s")["total_soc_true_pct"],
            "Total SOC (capacity-weighted, true)",
            "SOC, %",
            max_points,
            "mean",
        )
    tidy = pd.DataFrame(
        [{"run": r.label, "pack": p["id"], "throughput_efc": p["throughput_efc"]} for r in runs for p in r.summary["packs"]]
    )
    title = "Throughput equivalent full cycles per pack"
    cycles = metrics_figure(tidy, ["throughput_efc"], label="pack", group="run", title=title)
    cycles.update_layout(showlegend=True)
    figures["cycles"] = cycles
    table = comparison_table(runs)
    figures["metrics"] = metrics_figure(table.drop(columns=["strategy"]), title="Headline metrics")
    return figures
