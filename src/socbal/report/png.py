"""Static PNG export of plotly figures through matplotlib (no browser needed).

Renders the subset of plotly the report builders use: ``Scatter`` traces (lines, markers,
dash patterns, ``stackgroup`` stacking, ``fill`` to zero or to the previous line, x as values or as
``x0`` + ``dx``, dates), ``Bar`` traces (vertical or horizontal, grouped),
subplots (axis domains), shapes from ``add_hline``/``add_vline``/``add_hrect``/``add_vrect``,
annotations (subplot titles, line labels), axis titles and ranges, and the legend.
Other trace types are skipped with a warning.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from socbal.resultfiles import write_atomic

if TYPE_CHECKING:
    from matplotlib.axes import Axes

log = logging.getLogger(__name__)

_DASHES = {"solid": "-", "dash": "--", "dot": ":", "dashdot": "-.", "longdash": (0, (8, 3)), "longdashdot": (0, (8, 3, 1, 3))}
# Figure area left for the axes (fractions of the image), the rest holds titles and the legend.
_LEFT, _RIGHT, _BOTTOM, _TOP = 0.08, 0.78, 0.11, 0.88


def _axis_key(ref: str | None, letter: str) -> str:
    """'x2' -> 'xaxis2', None/'x' -> 'xaxis'."""
    ref = ref or letter
    return f"{letter}axis{ref[1:]}"


def _paper_rect(domain_x, domain_y, right: float = _RIGHT) -> tuple[float, float, float, float]:
    """Axes rectangle in figure fractions for plotly axis domains (``right``: the axes' right edge)."""
    x0, x1 = domain_x or (0.0, 1.0)
    y0, y1 = domain_y or (0.0, 1.0)
    w, h = right - _LEFT, _TOP - _BOTTOM
    return (_LEFT + x0 * w, _BOTTOM + y0 * h, (x1 - x0) * w, (y1 - y0) * h)


def _plain(text) -> str:
    """Plotly's title text without its small HTML subset."""
    return str(text or "").replace("<br>", "\n").replace("<b>", "").replace("</b>", "")


def _xy(values) -> np.ndarray:
    return np.asarray(values if values is not None else [], dtype=object)


def _is_date(value) -> bool:
    """True for a datetime, a numpy datetime64 or an ISO date string."""
    if isinstance(value, (np.datetime64, pd.Timestamp, datetime.datetime, datetime.date)):
        return True
    return isinstance(value, str) and len(value) >= 10 and value[4] == "-" and value[7] == "-"


def _num(value) -> float:
    """A plotly coordinate as a matplotlib number: dates become matplotlib date numbers."""
    from matplotlib import dates

    return float(dates.date2num(pd.Timestamp(value))) if _is_date(value) else float(value)


def _trace_x(trace) -> np.ndarray:
    """The x values of a trace (its ``x``, or ``x0`` + i ``dx``; dates in ms for ``dx``), as matplotlib numbers."""
    if trace.x is None and trace.y is not None and trace.x0 is not None:
        n = len(trace.y)
        if _is_date(trace.x0):
            return _num(trace.x0) + np.arange(n) * float(trace.dx or 1.0) / 86_400_000.0
        return float(trace.x0) + np.arange(n) * float(trace.dx or 1.0)
    x = _xy(trace.x)
    if x.size and _is_date(x[0]):
        return np.array([_num(v) for v in x], dtype=float)
    return np.array([np.nan if v is None else v for v in x], dtype=float) if x.size else np.array([])


def _colour(value):
    """A plotly colour as matplotlib takes it: 'rgb(r,g,b)' and 'rgba(r,g,b,a)' become tuples, others pass."""
    if isinstance(value, str) and value.startswith("rgb"):
        parts = [float(v) for v in value[value.index("(") + 1 : value.index(")")].split(",")]
        return tuple(v / 255.0 for v in parts[:3]) + tuple(parts[3:4])
    return value


def _labels(cats) -> list[str]:
    """Bar category labels; dates as month and year."""
    return [pd.Timestamp(c).strftime("%b %Y") if _is_date(c) else str(c) for c in cats]


def render(figure: go.Figure, path: str | Path, width_px: int = 1400, height_px: int | None = None, dpi: int = 150) -> Path:
    """Write ``figure`` as a PNG at ``path`` (atomically); returns the path."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    layout = figure.layout
    height_px = height_px or int(max(layout.height or 450, 380) * 1.5)
    fig = plt.figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
    axes: dict[tuple[str, str], Axes] = {}
    right = _RIGHT if layout.showlegend is not False else 0.97  # room for the legend only when there is one

    def ax_for(xref: str | None, yref: str | None):
        key = (_axis_key(xref, "x"), _axis_key(yref, "y"))
        if key not in axes:
            xa, ya = layout[key[0]], layout[key[1]]
            ax = fig.add_axes(_paper_rect(xa.domain, ya.domain, right))
            ax.grid(True, color="#e6e6e6", linewidth=0.7)
            ax.set_axisbelow(True)
            for side in ("top", "right"):
                ax.spines[side].set_visible(False)
            if xa.title and xa.title.text:
                ax.set_xlabel(_plain(xa.title.text))
            if ya.title and ya.title.text:
                ax.set_ylabel(_plain(ya.title.text))
            if xa.range is not None:
                ax.set_xlim(*(_num(v) for v in xa.range))
            if xa.type == "date" or (xa.range is not None and _is_date(xa.range[0])):
                ax.xaxis_date()
            if ya.range is not None:
                ax.set_ylim(*ya.range)
            if ya.autorange == "reversed":
                ax.invert_yaxis()
            axes[key] = ax
        return axes[key]

    stacks: dict[tuple, np.ndarray] = {}
    previous: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}  # last line per axes, for fill="tonexty"
    bars: dict[tuple, list] = {}
    for trace in figure.data:
        if isinstance(trace, go.Bar):
            bars.setdefault((trace.xaxis, trace.yaxis), []).append(trace)
        elif not isinstance(trace, go.Scatter):
            log.warning("PNG export: %s traces are not drawn", type(trace).__name__)
    for trace in figure.data:
        if not isinstance(trace, go.Scatter):
            continue
        ax = ax_for(trace.xaxis, trace.yaxis)
        y = _xy(trace.y)
        xf = _trace_x(trace)
        label = trace.name if trace.showlegend is not False else None
        line_color = _colour(trace.line.color) if trace.line and trace.line.color else None
        if xf.size == 0 or np.isnan(xf).all():  # legend-only entry
            if label:
                ax.plot([], [], "s", color=(trace.marker.color if trace.marker else None) or "#bbb", label=label)
            continue
        if _is_date(trace.x0) or (trace.x is not None and len(trace.x) and _is_date(trace.x[0])):
            ax.xaxis_date()
        yf = np.array([np.nan if v is None else v for v in y], dtype=float)
        axes_key = (trace.xaxis, trace.yaxis)
        if trace.fill in ("tozeroy", "tonexty"):
            base_x, base_y = previous.get(axes_key, (xf, np.zeros_like(yf)))
            base = np.interp(xf, base_x, base_y) if trace.fill == "tonexty" else np.zeros_like(yf)
            ax.fill_between(xf, base, yf, color=_colour(trace.fillcolor) or line_color or "#bbb", linewidth=0, label=label)
        previous[axes_key] = (xf, yf)
        if trace.fill in ("tozeroy", "tonexty") and (not trace.line or trace.line.width == 0):
            continue
        if trace.stackgroup:
            key = (trace.xaxis, trace.yaxis, trace.stackgroup)
            base = stacks.get(key, np.zeros_like(yf))
            top = base + np.nan_to_num(yf)
            ax.fill_between(xf, base, top, color=trace.fillcolor or line_color, alpha=0.85, linewidth=0, label=label)
            stacks[key] = top
            continue
        dash = _DASHES.get(trace.line.dash or "solid", "-") if trace.line else "-"
        width = (trace.line.width or 2) * 0.75 if trace.line else 1.5
        mode = trace.mode or "lines"
        marker = "o" if "markers" in mode else None
        ax.plot(
            xf,
            yf,
            linestyle=dash if "lines" in mode else "none",
            linewidth=width,
            color=line_color,
            marker=marker,
            markersize=3,
            label=label,
        )
    for (xref, yref), group in bars.items():
        ax = ax_for(xref, yref)
        n = len(group)
        for k, trace in enumerate(group):
            horizontal = trace.orientation == "h"
            cats, vals = (_xy(trace.y), _xy(trace.x)) if horizontal else (_xy(trace.x), _xy(trace.y))
            pos = np.arange(len(cats)) + (k - (n - 1) / 2) * (0.8 / n)
            colors = trace.marker.color if trace.marker and trace.marker.color is not None else None
            colors = list(colors) if isinstance(colors, (list, tuple)) else colors
            vals = np.array([np.nan if v is None else v for v in vals], dtype=float)
            label = trace.name if trace.showlegend is not False and n > 1 else None
            if horizontal:
                drawn = ax.barh(pos, vals, height=0.8 / n, color=colors, label=label)
                ax.set_yticks(np.arange(len(cats)), _labels(cats))
            else:
                drawn = ax.bar(pos, vals, width=0.8 / n, color=colors, label=label)
                ax.set_xticks(np.arange(len(cats)), _labels(cats), rotation=20 if len(cats) > 4 else 0)
            if trace.text is not None and n == 1:
                ax.bar_label(drawn, labels=[str(t) for t in trace.text], fontsize=7, padding=2)
        if group and group[0].orientation == "h" and ax.yaxis_inverted() is False:
            ax.invert_yaxis()
    if not axes:
        ax_for(None, None)
    for shape in layout.shapes or ():
        ax = ax_for(
            shape.xref.replace(" domain", "") if shape.xref and shape.xref != "paper" else None,
            shape.yref.replace(" domain", "") if shape.yref and shape.yref != "paper" else None,
        )
        x_is_data = bool(shape.xref) and shape.xref.startswith("x") and "domain" not in shape.xref
        y_is_data = bool(shape.yref) and shape.yref.startswith("y") and "domain" not in shape.yref
        style = dict(color=(shape.line.color if shape.line and shape.line.color else "#444"))
        if shape.type == "rect":
            fill = dict(color=shape.fillcolor or "#888", alpha=shape.opacity if shape.opacity is not None else 0.2, linewidth=0)
            if y_is_data and not x_is_data:
                ax.axhspan(shape.y0, shape.y1, **fill)
            elif x_is_data and not y_is_data:
                ax.axvspan(_num(shape.x0), _num(shape.x1), **fill)
        elif shape.type == "line":
            line = dict(
                style,
                linestyle=_DASHES.get((shape.line.dash if shape.line else None) or "solid", "-"),
                linewidth=(shape.line.width or 1) if shape.line else 1,
            )
            if y_is_data and not x_is_data:
                ax.axhline(shape.y0, **line)
            elif x_is_data and not y_is_data:
                ax.axvline(_num(shape.x0), **line)
    for note in layout.annotations or ():
        text = _plain(note.text)
        xref, yref = note.xref or "x", note.yref or "y"
        if xref == "paper" and yref == "paper":  # subplot titles
            x0, y0, _, _ = _paper_rect((note.x, note.x), (note.y, note.y), right)
            fig.text(x0, y0 + 0.005, text, ha="center", va="bottom", fontsize=9)
            continue
        ax = ax_for(xref.split(" ")[0] if xref != "paper" else None, yref.split(" ")[0] if yref != "paper" else None)
        x_axes, y_axes = "domain" in xref or xref == "paper", "domain" in yref or yref == "paper"
        if x_axes and y_axes:
            transform = ax.transAxes
        elif x_axes:
            transform = ax.get_yaxis_transform()  # x in axes fraction, y in data
        elif y_axes:
            transform = ax.get_xaxis_transform()  # x in data, y in axes fraction
        else:
            transform = ax.transData
        ax.text(
            _num(note.x),
            _num(note.y),
            text,
            transform=transform,
            fontsize=8,
            color="#333",
            ha=note.xanchor if note.xanchor in ("left", "right", "center") else "left",
            va="top" if note.yanchor == "top" else "bottom",
        )
    title = layout.title.text if layout.title else None
    if title:
        fig.text(_LEFT, 0.965, _plain(title), ha="left", va="top", fontsize=12, weight="bold")
    if layout.showlegend is not False:
        handles, labels = [], []
        for ax in axes.values():
            for h, lab in zip(*ax.get_legend_handles_labels()):
                if lab not in labels and not lab.startswith("_"):
                    handles.append(h)
                    labels.append(lab)
        if handles:
            fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(_RIGHT + 0.015, _TOP), fontsize=8, frameon=False)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=dpi, facecolor="white"))
    finally:
        plt.close(fig)
    log.info("wrote %s", path)
    return path


def write_pngs(figures: Mapping[str, go.Figure], folder: str | Path, **kwargs) -> list[Path]:
    """Write each figure as ``<folder>/<name>.png``; returns the paths."""
    folder = Path(folder)
    return [render(fig, folder / f"{name}.png", **kwargs) for name, fig in figures.items()]
