"""Terminal tables of a lifetime study (rich) and its HTML page (socbal.report); never used by the library."""

from __future__ import annotations

import math
from pathlib import Path

from rich.console import Console
from rich.table import Table

from socbal.lifetime.study import END_OF_LIFE_PCT, LifetimeStudy


def _num(value, digits: int = 1) -> str:
    """A table cell; NaN/None shows as an em dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{digits}f}"


def years_to_eol_text(value: float, max_years: float) -> str:
    """Years to 80 %, or '> max_years' when not reached."""
    return f"> {max_years:g}" if value is None or math.isnan(value) else f"{value:.1f}"


def print_study(study: LifetimeStudy, console: Console | None = None) -> None:
    """Print the strategy table and the per-pack table of a study (at full width in pipes)."""
    if console is None:
        from socbal.console import terminal_console

        console = terminal_console()
    y = study.years
    run = study.scenario.run
    fade_note = (
        f"{study.chemistry.upper()} at {study.temperature_c:g} °C (BLAST-Lite)"
        if study.fade_available
        else "fade model unavailable"
    )
    head = Table(
        title=f"{study.scenario.name} — {fade_note}; simulated {run.n_steps * run.step_s / 3600:g} h "
        f"at {run.step_s:g} s, repeated",
        caption=f"capacities in % of nameplate after {y:g} years; energies per year",
        caption_justify="left",
    )
    for col in (
        "strategy",
        f"years to {END_OF_LIFE_PCT:g} %",
        "first",
        "worst %",
        "spread",
        "EFC max",
        "served kWh",
        "loss kWh",
        "grid kWh",
    ):
        head.add_column(col, justify="left" if col in ("strategy", "first") else "right", no_wrap=col == "strategy")
    for r in study.strategies.to_dict("records"):
        head.add_row(
            r["strategy"],
            years_to_eol_text(r["years_to_80_pct"], study.max_years) if study.fade_available else "—",
            r["first_pack_to_80"] if isinstance(r["first_pack_to_80"], str) else "—",
            _num(r["worst_capacity_pct"]),
            _num(r["capacity_spread_pct"]),
            _num(r["max_efc_per_year"], 0),
            _num(r["energy_served_kwh_per_year"], 0),
            _num(r["losses_kwh_per_year"], 0),
            _num(r["grid_import_kwh_per_year"], 0),
        )
    console.print(head)
    packs = Table(
        title="Packs",
        caption=f"per year: EFC, cycles deeper than 50 %, hours at SOC >= 90 % and <= 10 %; "
        f"capacity after {y:g} years and its calendar/cycle loss, % of nameplate",
        caption_justify="left",
    )
    for col in (
        "strategy",
        "pack",
        "SOH0",
        "EFC",
        "DoD>50",
        "maxDoD",
        "h>=90",
        "h<=10",
        "cap %",
        "cal",
        "cyc",
        f"to {END_OF_LIFE_PCT:g} %",
    ):
        packs.add_column(col, justify="left" if col in ("strategy", "pack") else "right", no_wrap=col in ("strategy", "pack"))
    for r in study.packs.to_dict("records"):
        packs.add_row(
            r["strategy"],
            r["pack_id"],
            _num(r["soh_initial_pct"], 0),
            _num(r["efc_per_year"], 0),
            _num(r["deep_cycles_per_year"], 0),
            _num(r["max_dod_pct"], 0),
            _num(r["time_high_h_per_year"], 0),
            _num(r["time_low_h_per_year"], 0),
            _num(r["capacity_after_pct"]),
            _num(r["calendar_loss_pct"]),
            _num(r["cycle_loss_pct"]),
            years_to_eol_text(r["years_to_80_pct"], study.max_years) if study.fade_available else "—",
        )
    console.print(packs)
    if not study.fade_available:
        console.print(f"capacity fade unavailable: {study.fade_error}", soft_wrap=True, markup=False)
    if run.n_steps * run.step_s < 364 * 86400:
        console.print(
            f"note: the simulated period ({run.n_steps * run.step_s / 86400:g} days) is repeated to fill "
            "each year; a period shorter than a year misses the seasons.",
            soft_wrap=True,
        )


def lifetime_page(study: LifetimeStudy):
    """An HTML report page (socbal.report.ReportPage) of the study."""
    from socbal.report import ReportPage, lines_figure, metrics_figure

    y = study.years
    subtitle = (
        f"{y:g} years; {study.chemistry.upper()} at {study.temperature_c:g} °C (BLAST-Lite)"
        if study.fade_available
        else f"{y:g} years; capacity fade unavailable: {study.fade_error}"
    )
    page = ReportPage(f"Battery lifetime — {study.scenario.name}", subtitle=subtitle)
    page.add_heading("Strategies")
    page.add_table(
        study.strategies.set_index("strategy"), caption=f"Per strategy; capacities after {y:g} years, energies per year", digits=2
    )
    metrics = [
        "years_to_80_pct",
        "worst_capacity_pct",
        "capacity_spread_pct",
        "energy_served_kwh_per_year",
        "losses_kwh_per_year",
        "max_efc_per_year",
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
            metrics=["efc_per_year", "deep_cycles_per_year", "time_high_h_per_year", "time_low_h_per_year"],
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
    from socbal.report import write_page

    return write_page(lifetime_page(study), Path(folder) / "lifetime.html", png_dir=Path(folder) / "figures" if png else None)
