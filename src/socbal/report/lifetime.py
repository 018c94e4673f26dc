"""A lifetime study (:mod:`socbal.lifetime.study`) as an HTML page and PNG figures; reads the study, never physics."""

from __future__ import annotations

from pathlib import Path

from socbal.lifetime.study import LifetimeStudy
from socbal.report.figures import lines_figure, metrics_figure
from socbal.report.page import ReportPage, write_page
from socbal.wording import count

#: File name of the page inside a lifetime study's results folder.
LIFETIME_REPORT_FILE = "lifetime.html"


def lifetime_page(study: LifetimeStudy) -> ReportPage:
    """The study's report page: strategy table and bars, capacity over the years, cycling per pack."""
    y = study.years
    subtitle = (
        f"{count(y, 'year')}; {study.chemistry.upper()} at {study.temperature_c:g} °C (BLAST-Lite)"
        if study.fade_available
        else f"{count(y, 'year')}; capacity fade unavailable: {study.fade_error}"
    )
    page = ReportPage(f"Battery lifetime — {study.scenario.name}", subtitle=subtitle)
    page.add_heading("Strategies")
    page.add_table(
        study.strategies.set_index("strategy"),
        caption=f"Per strategy; capacities after {count(y, 'year')}, energies per year",
        digits=2,
    )
    metrics = [
        "years_to_80_pct",
        "worst_capacity_pct",
        "capacity_spread_pct",
        "energy_served_kwh_per_year",
        "losses_kwh_per_year",
        "max_soc_swing_efc_per_year",
    ]
    page.add_figure(
        "strategies", metrics_figure(study.strategies, metrics=metrics, label="strategy", title="Strategies compared")
    )
    if study.fade_available and not study.fade.empty:
        page.add_heading("Capacity")
        page.add_figure(
            "capacity",
            lines_figure(
                study.fade,
                x="years",
                y="capacity_pct",
                color_by="strategy",
                dash_by="pack_id",
                title="Capacity, % of nameplate",
                y_title="capacity %",
            ),
        )
    page.add_heading("Packs")
    page.add_figure(
        "cycling",
        metrics_figure(
            study.packs,
            metrics=["soc_swing_efc_per_year", "deep_cycles_per_year", "time_high_h_per_year", "time_low_h_per_year"],
            label="strategy",
            group="pack_id",
            title="Cycling per pack",
            columns=2,
        ),
    )
    page.add_table(study.packs.set_index(["strategy", "pack_id"]), caption="Per strategy and pack", digits=2)
    dod = study.dod.assign(dod=lambda d: d.dod_from_pct.map("{:g}".format) + "-" + d.dod_to_pct.map("{:g}".format))
    wide = dod.pivot_table(index=["strategy", "pack_id"], columns="dod", values="cycles_per_year", sort=False)
    page.add_table(wide, caption="Rainflow cycles per year by depth of discharge, %", digits=1)
    return page


def write_lifetime_page(study: LifetimeStudy, folder: Path, png: bool = True) -> tuple[Path, list[Path]]:
    """Write ``lifetime.html`` (and, with ``png``, its figures under ``figures/``) into ``folder``."""
    html_path = Path(folder) / LIFETIME_REPORT_FILE
    return write_page(lifetime_page(study), html_path, png_dir=Path(folder) / "figures" if png else None)
