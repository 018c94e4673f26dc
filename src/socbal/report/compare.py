"""The comparison as an HTML page (and PNG figures), built with :mod:`socbal.report`; reads results, never physics."""

from __future__ import annotations

from pathlib import Path

from socbal.compare.result import CompareResult
from socbal.compare.runs import TOPOLOGY_LABELS
from socbal.report.figures import lines_figure, metrics_figure
from socbal.report.page import ReportPage, write_page

#: File name of the page inside a comparison's results folder, and the folder of its PNG figures.
COMPARE_REPORT_FILE = "report.html"
COMPARE_FIGURES_DIR = "figures"

#: Topology names short enough to sit under a bar.
SHORT_LABELS = {"parallel": "parallel", "series": "series", "dcdc": "DC-DC"}

#: Metrics shown as bar charts.
BAR_METRICS = (
    "delivered_wh",
    "unserved_discharge_wh",
    "pack_heat_wh",
    "conversion_loss_wh",
    "standby_wh",
    "peak_circulating_current_a",
    "max_spread_pct",
    "mean_spread_pct",
    "time_to_first_stop_h",
)


def comparison_page(result: CompareResult) -> ReportPage:
    """A :class:`socbal.report.ReportPage`: the metric table, SOC spread and SOC per pack over time, metric bars."""

    s = result.summary
    labelled = {"topology": lambda f: f["topology"].map(TOPOLOGY_LABELS).astype(str), "time_h": lambda f: f["time_s"] / 3600}
    page = ReportPage(
        f"Series, parallel and DC-DC compared: {s['scenario']}",
        subtitle=f"{', '.join(s['packs'])}; {s['chemistry'].upper()}; {s['horizon_h']:g} h at {s['step_s']:g} s",
    )
    page.add_heading("Metrics")
    page.add_table(result.metric_table(), caption="Rows: metrics; columns: topologies (— = never)", digits=2)
    for note in s["notes"]:
        page.add_text(note)
    frames = {"spread": result.spread, "soc": result.soc}
    over_time = (  # figure and frame name, heading, y column, title, y axis title, dashed by
        ("spread", "SOC spread over time", "spread_pct", "SOC spread (max - min over the packs)", "spread, %", None),
        ("soc", "SOC per pack", "soc_pct", "SOC of every pack", "SOC, %", "pack_id"),
    )
    for name, heading, y, title, y_title, dash_by in over_time:
        page.add_heading(heading)
        figure = lines_figure(
            frames[name].assign(**labelled),
            x="time_h",
            y=y,
            color_by="topology",
            dash_by=dash_by,
            title=title,
            x_title="time, h",
            y_title=y_title,
        )
        page.add_figure(name, figure)
    page.add_heading("Metrics as bars")
    bars = result.metrics.assign(topology=result.metrics["topology"].map(SHORT_LABELS))  # short: they sit under bars
    page.add_figure("metrics", metrics_figure(bars, metrics=list(BAR_METRICS), label="topology", title="Per topology"))
    page.add_table(result.packs.assign(topology=labelled["topology"](result.packs)), caption="Per pack", index=False)
    return page


def write_comparison_page(result: CompareResult, out_dir: str | Path, png: bool = True) -> tuple[Path, list[Path]]:
    """Write ``report.html`` (and with ``png`` the figures under ``figures/``) into ``out_dir``."""
    out = Path(out_dir)
    return write_page(comparison_page(result), out / COMPARE_REPORT_FILE, png_dir=out / COMPARE_FIGURES_DIR if png else None)
