"""Reports of one run and of several runs: pages of figures and tables written as HTML and PNG."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from socbal.compare.result import COMPARE_FILES, CompareResult
from socbal.errors import InputError
from socbal.lifetime.study import STUDY_FILES, LifetimeStudy
from socbal.report.compare import comparison_page
from socbal.report.data import RunData, RunLike, as_run, as_runs, load_run
from socbal.report.figures import (
    ENERGY_TOTALS,
    MAX_POINTS,
    comparison_figures,
    comparison_table,
    cycles_figure,
    energy_totals_figure,
    run_figures,
    thinning_sentence,
)
from socbal.report.fleetpage import FLEET_FILES, fleet_report
from socbal.report.headline import headline_html, losses_kwh, per_pack
from socbal.report.homefleetpage import HOME_FLEET_FILES, home_fleet_report
from socbal.report.homepage import HOME_FILES, home_report
from socbal.report.lifetime import LIFETIME_REPORT_FILE, lifetime_page
from socbal.report.longrun import (
    LONG_RUN_S,
    monthly_energy_figure,
    monthly_reserve_figure,
    soc_daily_figure,
    spread_daily_figure,
    week_figure,
    week_picker_html,
)
from socbal.report.page import ReportPage, write_page
from socbal.report.sweeppage import SWEEP_FILES, sweep_report
from socbal.sim.metrics import SPREAD_ROWS, spread_missing_text
from socbal.sim.results import RESULT_FILES
from socbal.wording import count

log = logging.getLogger(__name__)

#: File names ``write_report`` uses inside a results folder.
REPORT_FILE = "report.html"
FIGURES_DIR = "figures"
#: The figures exported as PNG by default (the main ones; those of the run's scale that exist).
MAIN_FIGURES = ("soc", "spread", "power", "energy_flows", "energy_monthly")

_PACK_COLUMNS = (
    ("usable kWh", "usable_capacity_kwh"),
    ("SOC start %", "initial_soc_pct"),
    ("SOC end %", "final_soc_pct"),
    ("SOC end est. %", "final_soc_estimated_pct"),
    ("out kWh", "discharge_kwh"),
    ("in kWh", "charge_kwh"),
    ("throughput EFC", "throughput_efc"),
    ("DC-DC + I²R kWh", "conversion_loss_kwh"),
    ("standby kWh", "standby_kwh"),
    ("main unit kWh", "main_unit_kwh"),
    ("loss kWh", "loss_kwh"),  # the three before: in - out - loss = stored change
    ("at reserve h", "reserve_standby_h"),
)


def _number(value) -> float:
    """A summary value as a float; missing (never happened) becomes NaN."""
    return float("nan") if value is None else float(value)


def spread_unit(value: float, key: str, unit: str, n_packs: int) -> str:
    """The unit cell of a spread row: the unit, or for a missing value (NaN) what its absence means."""
    return spread_missing_text(key, n_packs) if math.isnan(value) else unit


def summary_tables(summary: dict) -> dict[str, pd.DataFrame]:
    """The summary as tables by caption: SOC spread, energy and packs (NaN = never happened)."""
    spread = summary.get("spread", {})
    n_packs = len(summary.get("packs", []))
    values = [_number(spread.get(k)) for _, k, _ in SPREAD_ROWS]
    energy = summary.get("energy_kwh", {})
    tables = {
        "SOC spread": pd.DataFrame(
            {"value": values, "unit": [spread_unit(v, k, u, n_packs) for v, (_, k, u) in zip(values, SPREAD_ROWS, strict=True)]},
            index=pd.Index([label for label, _, _ in SPREAD_ROWS], name=""),
        ),
        "Energy": pd.DataFrame(
            {"kWh": [_number(energy.get(k)) for _, k in ENERGY_TOTALS]},
            index=pd.Index([label for label, _ in ENERGY_TOTALS], name="flow"),
        ),
        "Packs": pd.DataFrame(
            [{label: _number(p.get(k)) for label, k in _PACK_COLUMNS} for p in summary.get("packs", [])],
            index=pd.Index([p["id"] for p in summary.get("packs", [])], name="pack"),
        ),
    }
    return tables


def _subtitle(run: RunData) -> str:
    s = run.summary
    parts = [
        f"strategy {s.get('strategy')}",
        f"backup reserve {run.reserve_pct:g} %",
        count(len(run.pack_ids), "pack"),
        f"{_number(s.get('horizon_h')):g} h at {_number(s.get('step_s')):g} s steps",
    ]
    if s.get("ems_version"):
        parts.append(f"EMS {s['ems_version']}")
    return ", ".join(parts)


def _thinning_note(run: RunData, max_points: int) -> str:
    """What the page did to the recorded intervals, in one sentence (nothing hidden)."""
    return thinning_sentence(
        len(run.device),
        max_points,
        "SOC, power and energy flows are averaged over bins of about {per_bin} intervals, the spread takes each bin's "
        "maximum and the reserve shading each bin's any-pack-held flag",
    )


def _short_run_sections(page: ReportPage, run: RunData, max_points: int) -> None:
    """Hours to days: every curve over the whole run (binned to ``max_points``)."""
    figures = run_figures(run, max_points)
    page.add_text(_thinning_note(run, max_points))
    page.add_heading("State of charge")
    page.add_figure("soc", figures["soc"])
    page.add_figure("spread", figures["spread"])
    page.add_text(
        "Green band: the spec's typical SOC difference in normal operation (3–15 %). "
        "Grey: intervals in which at least one pack was held at the backup reserve."
    )
    page.add_heading("Power")
    page.add_figure("power", figures["power"])
    page.add_heading("Energy")
    page.add_figure("energy_flows", figures["energy_flows"])
    page.add_figure("energy_totals", figures["energy_totals"])
    page.add_heading("Cycles")
    page.add_figure("cycles", figures["cycles"])


def _long_run_sections(page: ReportPage, run: RunData) -> None:
    """Weeks to years: daily bands, monthly bars and a full-resolution week view."""
    n_days = run.duration_s / 86400.0
    page.add_text(
        f"A run of {n_days:.0f} days ({len(run.device)} recorded intervals): SOC and spread are drawn per day "
        "(band: the day's lowest to highest value, line: the day's mean), energies and time at the reserve per "
        "month; the week view below draws every recorded interval. Per-pack power over time is not drawn for long "
        "runs (it is in the results' packs.parquet); the tables and headline numbers use every interval."
    )
    page.add_heading("State of charge")
    page.add_figure("soc", soc_daily_figure(run))
    page.add_figure("spread", spread_daily_figure(run))
    page.add_heading("Week view")
    page.add_figure("week", week_figure(run))
    page.add_html(week_picker_html(run, "fig-week"))
    page.add_heading("Energy")
    page.add_figure("energy_monthly", monthly_energy_figure(run))
    page.add_figure("energy_totals", energy_totals_figure(run))
    page.add_heading("Reserve and cycles")
    page.add_figure("reserve_monthly", monthly_reserve_figure(run))
    page.add_figure("cycles", cycles_figure(run))


def run_report(run: RunLike, max_points: int = MAX_POINTS) -> ReportPage:
    """The report page of one run: headline numbers, summary tables, then the figures at the run's scale.

    Runs up to two weeks show every curve over the whole run; longer runs daily bands, monthly
    bars and a week view at full resolution (:mod:`socbal.report.longrun`).
    """
    run = as_run(run)
    log.debug("report of %s: %d recorded intervals, %d packs", run.label, len(run.device), len(run.pack_ids))
    page = ReportPage(f"socbal report — {run.label}", subtitle=_subtitle(run))
    description = run.scenario.get("description") if isinstance(run.scenario, dict) else None
    if description:
        page.add_text(description)
    page.add_html(headline_html(run))
    page.add_heading("Summary")
    for caption, table in summary_tables(run.summary).items():
        page.add_table(table, caption=caption, digits=3 if caption != "SOC spread" else 2)
    page.add_table(pd.DataFrame({"kWh": losses_kwh(run)}).rename_axis("loss"), caption="Losses by cause")
    page.add_table(per_pack(run), caption="Per pack", digits=2)
    if run.duration_s > LONG_RUN_S:
        _long_run_sections(page, run)
    else:
        _short_run_sections(page, run, max_points)
    return page


def comparison_report(
    runs: Iterable[RunLike] | Mapping[str, RunLike],
    title: str = "socbal comparison",
    subtitle: str = "",
    max_points: int = MAX_POINTS,
) -> ReportPage:
    """A page comparing several runs: overlaid spread and total SOC, cycles per pack, metric bars, table."""
    runs = as_runs(runs)
    figures = comparison_figures(runs, max_points)
    page = ReportPage(title, subtitle=subtitle or ", ".join(r.label for r in runs))
    page.add_heading("Headline metrics")
    table = comparison_table(runs)
    page.add_table(table.T.rename_axis(index="metric", columns=None), caption="One column per run (— = never happened)")
    for name, fig in figures.items():
        page.add_figure(name, fig)
    return page


@dataclass(frozen=True)
class FolderKind:
    """A kind of results folder: the command that writes it, the files that tell it apart, its page.

    ``page(folder)`` builds the page; it is written to ``report_file`` in the folder (by default),
    its figures (all, or ``png_figures``) as PNG under ``figures/`` beside it.
    """

    command: str
    files: tuple[str, ...]
    page: Callable[[Path], ReportPage]
    report_file: str = REPORT_FILE
    png_figures: tuple[str, ...] | None = None


#: Every kind of results folder ``socbal report`` knows, tried in this order: the first whose files are all
#: there wins, so a kind whose files include another's comes first: a home folder (socbal simulate HOME.toml)
#: before the fleet, as it also holds devices.parquet.
FOLDER_KINDS: tuple[FolderKind, ...] = (
    FolderKind("socbal simulate HOME.toml", HOME_FILES, home_report),
    FolderKind("socbal fleet HOME.toml", HOME_FLEET_FILES, home_fleet_report),
    FolderKind("socbal fleet", FLEET_FILES, fleet_report),
    FolderKind("socbal sweep", SWEEP_FILES, sweep_report),
    FolderKind("socbal compare", COMPARE_FILES, lambda folder: comparison_page(CompareResult.load(folder))),
    FolderKind("socbal lifetime", STUDY_FILES, lambda folder: lifetime_page(LifetimeStudy.load(folder)), LIFETIME_REPORT_FILE),
    FolderKind("socbal simulate", RESULT_FILES[:3], lambda folder: run_report(load_run(folder)), png_figures=MAIN_FIGURES),
)
#: Files every kind shares, which say nothing about which kind a folder is.
_COMMON_FILES = frozenset({"summary.json", "scenario.json", "packs.parquet"})


def folder_kind(folder: str | Path) -> FolderKind:
    """The kind of results folder ``folder`` is; :class:`InputError` (one line naming what was expected) otherwise."""
    folder = Path(folder)
    expected = "; ".join(f"{k.command}: {', '.join(k.files)}" for k in FOLDER_KINDS)
    if not folder.exists():
        raise InputError(f"results folder not found: {folder} (expected a folder written by one of {expected})")
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder; expected a results folder holding the files of one of {expected}")
    present = {p.name for p in folder.iterdir() if p.is_file()}
    for kind in FOLDER_KINDS:
        if set(kind.files) <= present:
            return kind
    partial = [k for k in FOLDER_KINDS if (set(k.files) - _COMMON_FILES) & present]
    if len(partial) == 1:
        missing = ", ".join(f for f in partial[0].files if f not in present)
        raise InputError(f"{folder}: incomplete {partial[0].command} results: missing {missing}")
    raise InputError(f"{folder}: not a results folder socbal knows; expected the files of one of {expected}")


def write_folder_report(folder: str | Path, out: str | Path | None = None, png: bool = True) -> tuple[Path, list[Path]]:
    """Write the report of a results folder, the page chosen by what it holds (:data:`FOLDER_KINDS`).

    ``out`` defaults to the kind's page file in the folder (``report.html``; ``lifetime.html`` for a
    lifetime study, as ``socbal lifetime --report`` writes it); PNGs go to ``figures/`` beside it.
    """
    folder = Path(folder)
    kind = folder_kind(folder)
    html_path = Path(out) if out is not None else folder / kind.report_file
    return write_page(kind.page(folder), html_path, html_path.parent / FIGURES_DIR if png else None, kind.png_figures)


def write_report(
    run: RunLike, out: str | Path | None = None, png: bool = True, max_points: int = MAX_POINTS
) -> tuple[Path, list[Path]]:
    """Write one run's report: ``report.html`` and, with ``png``, the main figures under ``figures/``.

    ``out`` is the HTML file; by default ``report.html`` in the results folder (required
    when ``run`` is an in-memory result). PNGs go to ``figures/`` beside the HTML file.
    Returns the HTML path and the PNG paths.
    """
    run = as_run(run)
    if out is None:
        if run.folder is None:
            raise ValueError("out is required for results that were not read from a folder")
        out = run.folder / REPORT_FILE
    out = Path(out)
    page = run_report(run, max_points)
    return write_page(page, out, out.parent / FIGURES_DIR if png else None, MAIN_FIGURES)
