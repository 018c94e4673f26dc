"""Reports of simulation results: interactive, self-contained HTML pages and PNG figures.

Reports read recorded results (a results folder, a ``SimulationResult``, or tidy
DataFrames); they never re-run physics.

Any results folder (the page chosen by what it holds: one run, a fleet, a sweep, a comparison or a
lifetime study; see ``socbal.report.build.FOLDER_KINDS``)::

    from socbal.report import write_folder_report
    write_folder_report("results/fleet-fleet")

One run::

    from socbal.report import write_report
    html, pngs = write_report("results/spec-example-80-40")   # report.html + figures/*.png

Several runs, or any tidy comparison table (for ``socbal compare`` / ``socbal lifetime``)::

    from socbal.report import ReportPage, comparison_report, metrics_figure, lines_figure, write_page
    page = comparison_report({"spec": "results/a", "droop": "results/b"}, title="Strategies")
    write_page(page, "compare.html", png_dir="compare-figures")

    page = ReportPage("Lifetime", subtitle="10 years, 25 °C")
    page.add_figure("capacity", lines_figure(fade, x="years", y="capacity_pct", color_by="strategy", dash_by="pack_id"))
    page.add_figure("metrics", metrics_figure(table, label="strategy", group="topology"))
    page.add_table(table, caption="Per strategy and topology")
    write_page(page, "lifetime.html", png_dir="lifetime-figures")
"""

from socbal.report.build import (
    FIGURES_DIR,
    MAIN_FIGURES,
    REPORT_FILE,
    comparison_report,
    run_report,
    summary_tables,
    write_folder_report,
    write_page,
    write_report,
)
from socbal.report.data import RunData, as_run, as_runs, load_run
from socbal.report.figures import (
    SPEC_SPREAD_BAND_PCT,
    comparison_figures,
    comparison_table,
    cycles_figure,
    energy_flows_figure,
    energy_totals_figure,
    lines_figure,
    metrics_figure,
    power_figure,
    run_figures,
    soc_figure,
    spread_figure,
)
from socbal.report.fleetpage import fleet_report
from socbal.report.headline import headline, losses_kwh
from socbal.report.page import ReportPage, table_html
from socbal.report.png import render as write_png
from socbal.report.png import write_pngs
from socbal.report.sweeppage import sweep_report

__all__ = [
    "FIGURES_DIR",
    "MAIN_FIGURES",
    "REPORT_FILE",
    "SPEC_SPREAD_BAND_PCT",
    "ReportPage",
    "RunData",
    "as_run",
    "as_runs",
    "comparison_figures",
    "comparison_report",
    "comparison_table",
    "cycles_figure",
    "energy_flows_figure",
    "energy_totals_figure",
    "lines_figure",
    "load_run",
    "metrics_figure",
    "power_figure",
    "run_figures",
    "run_report",
    "soc_figure",
    "spread_figure",
    "summary_tables",
    "sweep_report",
    "table_html",
    "fleet_report",
    "headline",
    "losses_kwh",
    "write_folder_report",
    "write_page",
    "write_png",
    "write_pngs",
    "write_report",
]
