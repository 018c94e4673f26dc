"""Figures of long runs (weeks to years), read from the recorded results: daily bands, monthly bars, a week view.

A year of 15-minute records is 35 040 points per curve: drawn whole it is a solid block. Here
SOC and spread are shown per calendar day (min–max band and mean), energies and time at the
reserve per month, and the full resolution in a week view whose week the reader chooses.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from socbal.report.data import RunData
from socbal.report.figures import WH_PER_KWH, _style, add_spec_band, color, has_spread, no_spread_figure, pack_wide
from socbal.sim.metrics import ONE_PACK

#: Runs longer than this are reported with the long-run figures, s.
LONG_RUN_S = 14 * 86400.0
WEEK_MS = 7 * 86400 * 1000


def _period_start(run: RunData, time_s: pd.Index, freq: str) -> pd.Index:
    """The day or month (``freq`` "D" or "M") in which each recorded interval started."""
    start = run.start if run.start is not None else pd.Timestamp(0)
    interval_s = np.diff(np.asarray(time_s, dtype=float), prepend=0.0)
    began = start + pd.to_timedelta(np.asarray(time_s, dtype=float) - interval_s, unit="s")
    return pd.DatetimeIndex(began).to_period(freq).to_timestamp()


def _band(fig: go.Figure, x, low, high, mean, name: str, rgb: str, row: int | None = None) -> None:
    """A min–max band with the mean line on top (one legend entry)."""
    at = dict(row=row, col=1) if row else {}
    fig.add_trace(
        go.Scatter(x=x, y=high, mode="lines", line=dict(width=0), legendgroup=name, showlegend=False, hoverinfo="skip"), **at
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=low,
            mode="lines",
            line=dict(width=0),
            fill="tonexty",
            fillcolor=f"rgba({rgb},0.2)",
            legendgroup=name,
            showlegend=False,
            hoverinfo="skip",
        ),
        **at,
    )
    fig.add_trace(
        go.Scatter(x=x, y=mean, mode="lines", name=name, legendgroup=name, line=dict(color=f"rgb({rgb})", width=1.5)), **at
    )


def _rgb(hex_colour: str) -> str:
    """'#1f77b4' as '31,119,180'."""
    return ",".join(str(int(hex_colour[i : i + 2], 16)) for i in (1, 3, 5))


def soc_daily_figure(run: RunData) -> go.Figure:
    """True SOC of every pack per day: band from the day's lowest to highest SOC, line at the day's mean."""
    fig = go.Figure()
    for i, pack in enumerate(run.pack_ids):
        low = pack_wide(run, "soc_true_min_pct")[pack]
        day = _period_start(run, low.index, "D")
        daily = (
            pd.DataFrame(
                {
                    "low": low.to_numpy(),
                    "high": pack_wide(run, "soc_true_max_pct")[pack].to_numpy(),
                    "mean": pack_wide(run, "soc_true_mean_pct")[pack].to_numpy(),
                },
                index=day,
            )
            .groupby(level=0)
            .agg({"low": "min", "high": "max", "mean": "mean"})
        )
        _band(fig, daily.index, daily["low"], daily["high"], daily["mean"], pack, _rgb(color(i)))
    fig.add_hline(
        y=run.reserve_pct, line=dict(color="#444", width=1, dash="dot"), annotation_text=f"backup reserve {run.reserve_pct:g} %"
    )
    _style(fig, "SOC of every pack per day (band: the day's min–max of the true SOC; line: the day's mean)", "date", "SOC, %")
    fig.update_yaxes(range=[0, 100])
    return fig


def spread_daily_figure(run: RunData) -> go.Figure:
    """SOC spread per day: band from the day's lowest to highest spread, line at the day's mean; the spec's band.
    A one-pack run has no spread: the figure says so."""
    if not has_spread(run):
        return no_spread_figure(run, "SOC spread per day")
    spread = run.device.set_index("time_s")["spread_true_pct"]
    daily = spread.groupby(_period_start(run, spread.index, "D")).agg(["min", "max", "mean"])
    fig = go.Figure()
    add_spec_band(fig)
    _band(fig, daily.index, daily["min"], daily["max"], daily["mean"], "spread, true SOC", _rgb("#d62728"))
    _style(fig, "SOC spread per day (band: the day's min–max; line: the day's mean)", "date", "spread, % points")
    return fig


def monthly_energy(run: RunData) -> pd.DataFrame:
    """Energy per calendar month, kWh: served by the device, grid import, export and losses by cause."""
    dev = run.device.set_index("time_s")
    wide = {c: pack_wide(run, c).sum(axis=1).reindex(dev.index) for c in ("dcdc_loss_wh", "i2r_loss_wh", "standby_wh")}
    frame = pd.DataFrame(
        {
            "served by the device": dev["ac_output_wh"] - dev["export_wh"],
            "grid import": dev["grid_import_wh"] + dev["grid_to_device_wh"],
            "export": dev["export_wh"],
            "loss DC-DC": wide["dcdc_loss_wh"],
            "loss I²R": wide["i2r_loss_wh"],
            "loss pack standby": wide["standby_wh"],
            "loss main unit": dev["main_unit_wh"],
        }
    )
    return frame.groupby(_period_start(run, dev.index, "M")).sum() / WH_PER_KWH


def monthly_energy_figure(run: RunData) -> go.Figure:
    """Monthly bars: served, grid import and export side by side, the losses stacked by cause."""
    monthly = monthly_energy(run)
    fig = go.Figure()
    flows = {"served by the device": "#2ca02c", "grid import": "#7f7f7f", "export": "#17becf"}
    for name, col in flows.items():
        fig.add_trace(go.Bar(x=monthly.index, y=monthly[name], name=name, marker_color=col, offsetgroup=name))
    for k, name in enumerate(c for c in monthly.columns if c.startswith("loss")):
        fig.add_trace(
            go.Bar(
                x=monthly.index, y=monthly[name], name=name, marker_color=color(3 + k), offsetgroup="losses", legendgroup="losses"
            )
        )
    _style(fig, "Energy per month (losses stacked by cause)", "month", "energy, kWh")
    fig.update_layout(barmode="stack", hovermode="x unified")
    fig.update_xaxes(dtick="M1", tickformat="%b %Y")
    return fig


def monthly_reserve_figure(run: RunData) -> go.Figure:
    """Hours per month each pack was held at the backup reserve."""
    held = pack_wide(run, "reserve_standby_s")
    monthly = held.groupby(_period_start(run, held.index, "M")).sum() / 3600.0
    fig = go.Figure()
    for i, pack in enumerate(monthly.columns):
        fig.add_trace(go.Bar(x=monthly.index, y=monthly[pack], name=pack, marker_color=color(i)))
    _style(fig, "Time at the backup reserve per month", "month", "hours at reserve")
    fig.update_layout(barmode="group", hovermode="x unified")
    fig.update_xaxes(dtick="M1", tickformat="%b %Y")
    return fig


def _uniform(time_s: np.ndarray) -> float | None:
    """The recording interval (s) when every row is that far from the previous one (the first from 0), else None."""
    steps = np.diff(time_s, prepend=0.0)
    return float(steps[0]) if steps.size and np.allclose(steps, steps[0]) else None


def busiest_week_start(run: RunData) -> pd.Timestamp:
    """Midnight starting the 7 days in which the packs' SOC moved the most (where the daily cycle shows)."""
    soc = pack_wide(run, "soc_true_pct")
    moved = soc.diff().abs().sum(axis=1).fillna(0.0)
    daily = moved.groupby(_period_start(run, moved.index, "D")).sum()
    weekly = daily.rolling(7, min_periods=1).sum().shift(-6).dropna() if len(daily) > 7 else daily.iloc[:1]
    return pd.Timestamp(weekly.idxmax())


def week_figure(run: RunData) -> go.Figure:
    """Every recorded interval of the SOC of each pack and of the spread, opened on the busiest week.

    The x values are written as a start and a step when the records are evenly spaced (most
    runs), which keeps a year of 15-minute records small.
    """
    soc = pack_wide(run, "soc_true_pct")
    spread = run.device.set_index("time_s")["spread_true_pct"]
    time_s = soc.index.to_numpy(dtype=float)
    start = run.start if run.start is not None else pd.Timestamp(0)
    step_s = _uniform(time_s)
    if step_s is not None:
        x = dict(x0=(start + pd.to_timedelta(time_s[0], unit="s")).isoformat(), dx=step_s * 1000.0)
    else:
        x = dict(x=(start + pd.to_timedelta(time_s, unit="s")).to_numpy())
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.65, 0.35], vertical_spacing=0.06)
    for i, pack in enumerate(soc.columns):
        fig.add_trace(
            go.Scatter(**x, y=soc[pack].to_numpy(np.float32), name=pack, mode="lines", line=dict(color=color(i), width=1.5)),
            row=1,
            col=1,
        )
    if has_spread(run):
        fig.add_trace(
            go.Scatter(**x, y=spread.to_numpy(np.float32), name="spread", mode="lines", line=dict(color="#d62728", width=1.5)),
            row=2,
            col=1,
        )
    else:  # one pack: no spread (a flat 0 would read as perfect balance)
        fig.add_annotation(text=f"spread: {ONE_PACK}", showarrow=False, x=0.5, y=0.5, xref="x2 domain", yref="y2 domain")
    first = busiest_week_start(run)
    _style(fig, "Full resolution: true SOC of every pack (top) and spread (bottom), one week at a time", None, None, 560)
    fig.update_xaxes(type="date", range=[first.isoformat(), (first + pd.Timedelta(days=7)).isoformat()])
    fig.update_xaxes(rangeslider=dict(visible=False))
    fig.update_yaxes(title_text="SOC, %", range=[0, 100], row=1, col=1)
    fig.update_yaxes(title_text="spread, % points", row=2, col=1)
    return fig


def week_picker_html(run: RunData, div_id: str) -> str:
    """A date field and previous/next buttons that move the week view (``div_id``) to the chosen week."""
    start = (run.start if run.start is not None else pd.Timestamp(0)).normalize()
    end = start + pd.to_timedelta(run.duration_s, unit="s")
    shown = busiest_week_start(run)
    return f"""<p class="note">Opened on the week in which the SOC moved the most. Week from
<input type="date" id="{div_id}-from" value="{shown:%Y-%m-%d}"
min="{start:%Y-%m-%d}" max="{end:%Y-%m-%d}"> <button id="{div_id}-prev">◀ week</button> <button id="{div_id}-next">week ▶</button>
(or drag on the plot to zoom; double-click to see the whole run)</p>
<script>
(() => {{
  const field = document.getElementById("{div_id}-from");
  const show = () => {{
    const from = new Date(field.value + "T00:00:00Z").getTime();
    if (!Number.isNaN(from) && window.Plotly) Plotly.relayout("{div_id}", {{"xaxis.range": [from, from + {WEEK_MS}]}});
  }};
  const move = (days) => {{
    const d = new Date(field.value + "T00:00:00Z"); d.setUTCDate(d.getUTCDate() + days);
    field.value = d.toISOString().slice(0, 10); show();
  }};
  field.addEventListener("change", show);
  document.getElementById("{div_id}-prev").addEventListener("click", () => move(-7));
  document.getElementById("{div_id}-next").addEventListener("click", () => move(7));
}})();
</script>"""
