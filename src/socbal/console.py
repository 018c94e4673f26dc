"""Terminal tables of every command's results (rich); the library itself never prints.

One place for how a table looks: :func:`table` builds it (text columns left, numbers
right), :func:`output_console` prints it at full width when standard output is a pipe
or a file (no column cut short, no number truncated), at the terminal's width otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table

from socbal.sim.metrics import SPREAD_ROWS, losses_kwh, pack_loss_kwh, spread_missing_text
from socbal.wording import count, fixed

if TYPE_CHECKING:
    from socbal.compare import CompareResult
    from socbal.lifetime.study import LifetimeStudy

#: Width of the console when standard output is not a terminal: wider than any table, so none is cut.
PIPE_WIDTH = 1000


def output_console() -> Console:
    """A console on standard output: the terminal's width on a terminal, :data:`PIPE_WIDTH` in pipes and files."""
    console = Console()
    return console if console.is_terminal else Console(width=PIPE_WIDTH)


def num(value: float | None, digits: int = 2) -> str:
    """A number for a table cell; NaN or None (never happened) shows as an em dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return fixed(value, digits)


#: A number column of a table: its header, the record's key and the digits shown.
NumberColumn = tuple[str, str, int]


def headers(columns: Sequence[NumberColumn]) -> list[str]:
    """The headers of number columns."""
    return [header for header, _key, _digits in columns]


def numbers(record: Mapping, columns: Sequence[NumberColumn]) -> tuple[str, ...]:
    """One record's cells of number columns (:func:`num` of each key, at the column's digits)."""
    return tuple(num(record[key], digits) for _header, key, digits in columns)


def table(
    title: str, columns: Sequence[str], rows: Iterable[Sequence[str]], text_columns: int = 1, caption: str | None = None
) -> Table:
    """A table whose first ``text_columns`` columns are text (left, never wrapped) and the rest numbers (right)."""
    # at least as wide as its title: a title wider than the columns wrapped between a number and its unit ("5 / %")
    out = Table(title=title, caption=caption, caption_justify="left", min_width=cell_len(title))
    for i, name in enumerate(columns):
        text = i < text_columns
        out.add_column(name, justify="left" if text else "right", no_wrap=text)
    for row in rows:
        out.add_row(*row)
    return out


def spread_cell(value: float | None, key: str, unit: str, n_packs: int) -> str:
    """One value of a summary's ``spread`` object with its unit, or what its absence means (never, one pack)."""
    if value is None or math.isnan(value):
        return spread_missing_text(key, n_packs)
    return f"{num(value)} {unit}"


def print_summary(summary: dict, console: Console | None = None) -> None:
    """Print a simulation summary: spread, energy and per-pack tables."""
    console = console or output_console()
    s, n_packs = summary["spread"], len(summary["packs"])
    title = (
        f"{summary['scenario']} — strategy {summary['strategy']}, reserve {summary['backup_reserve_pct']:g} %, "
        f"{summary['horizon_h']:g} h at {summary['step_s']:g} s"
    )
    rows = ((label, spread_cell(s.get(key), key, unit, n_packs)) for label, key, unit in SPREAD_ROWS)
    console.print(table(title, ["SOC spread", "value"], rows))
    e = summary["energy_kwh"]
    flows = [
        ("household load", "load"),
        ("served by the device", "served_by_device"),
        ("grid import", "grid_import"),
        ("export to the grid", "export"),
        ("unserved load (grid off)", "unserved"),
        ("PV", "pv"),
        ("PV curtailed", "pv_curtailed"),
        ("grid to device (AC charging, aux)", "grid_to_device"),
        ("DC-DC and I²R loss", "conversion_loss"),
        ("pack standby", "standby"),
        ("main unit", "main_unit"),
    ]
    energy_rows = [(label, num(e[key], 3)) for label, key in flows]
    energy_rows.append(("losses (the three above)", num(losses_kwh(e), 3)))
    caption = "PV - PV curtailed + grid to device - served by the device - export - losses = the packs' stored change"
    console.print(table("Energy", ["flow", "kWh"], energy_rows, caption=caption))
    pack_columns: list[NumberColumn] = [
        ("SOC0 %", "initial_soc_pct", 1),
        ("SOC %", "final_soc_pct", 1),
        ("est %", "final_soc_estimated_pct", 1),
        ("out kWh", "discharge_kwh", 3),
        ("in kWh", "charge_kwh", 3),
        ("thru EFC", "throughput_efc", 3),
        ("loss kWh", "loss_kwh", 3),
        ("reserve h", "reserve_standby_h", 2),
    ]
    packs = ({**p, "loss_kwh": pack_loss_kwh(p)} for p in summary["packs"])
    rows = ((p["id"], *numbers(p, pack_columns)) for p in packs)
    caption = (
        "thru EFC: (out + in) / 2 / usable capacity; loss kWh: DC-DC, I²R and standby, with the main unit's draw "
        "from its own battery: in - out - loss = stored change"
    )
    console.print(table("Packs", ["pack", *headers(pack_columns)], rows, caption=caption))


def print_comparison(result: CompareResult, console: Console | None = None) -> None:
    """Print a :class:`socbal.compare.CompareResult` like the spec's table: rows = metrics, columns = topologies."""
    from socbal.compare import METRIC_ROWS, TOPOLOGIES, TOPOLOGY_LABELS

    console = console or output_console()
    s = result.summary
    frame = result.metrics.set_index("topology")
    rows = [
        (f"{label}, {unit}", *(num(float(frame.loc[t, column]), digits) for t in TOPOLOGIES))
        for label, column, unit, digits in METRIC_ROWS
    ]
    rows.append(("  which pack, why", *(frame.loc[t, "first_pack_stop"] or "—" for t in TOPOLOGIES)))
    final = result.packs.groupby("topology", observed=True, sort=False)["final_soc_pct"]
    rows.append(("Final SOC per pack, %", *(" / ".join(f"{v:.0f}" for v in final.get_group(t)) for t in TOPOLOGIES)))
    title = (
        f"{s['scenario']} — {count(len(s['packs']), 'pack')} ({', '.join(s['packs'])}), {s['chemistry'].upper()}, "
        f"{s['horizon_h']:g} h at {s['step_s']:g} s, same battery demand"
    )
    console.print(table(title, ["metric", *(TOPOLOGY_LABELS[t] for t in TOPOLOGIES)], rows))
    for note in s["notes"]:
        console.print(f"• {note}", style="dim", highlight=False)


def print_distribution(summary: dict, console: Console | None = None) -> None:
    """Print a fleet run's metric percentiles (the summary of a :class:`socbal.fleet.results.FleetResult` or a
    :class:`socbal.fleet.home_results.HomeFleetResult`)."""
    from socbal.fleet.results import PERCENTILES

    console = console or output_console()
    members = (
        f"{count(summary['homes'], 'home')} of up to {count(summary['max_devices'], 'device')}, home strategy "
        f"{summary['strategy']}"
        if "homes" in summary
        else f"{count(summary['devices'], 'device')} × {count(summary['packs_per_device'], 'pack')}"
    )
    title = f"{summary['scenario']} — {members}, {summary['horizon_h']:g} h at {summary['step_s']:g} s, seed {summary['seed']}"
    columns = ["metric", *("max" if q == 100 else f"p{q}" for q in PERCENTILES), "mean"]
    rows = (
        (row["label"], *(num(row[f"p{q}"], 3) for q in PERCENTILES), num(row["mean"], 3))
        for row in summary["distribution"].values()
    )
    console.print(table(title, columns, rows))


def years_text(value: float | None, max_years: float) -> str:
    """Years to the end of life, or '> max_years' when not reached within the study."""
    return f"> {max_years:g}" if value is None or math.isnan(value) else f"{value:.1f}"


def print_study(study: LifetimeStudy, console: Console | None = None) -> None:
    """Print a lifetime study: the strategy table and the per-pack table."""
    from socbal.lifetime.study import END_OF_LIFE_PCT

    console = console or output_console()
    y = study.years
    run = study.scenario.run
    fade_note = "fade model unavailable"
    if study.fade_available:
        fade_note = f"{study.chemistry.upper()} at {study.temperature_c:g} °C (BLAST-Lite)"

    def eol(value: float) -> str:
        return years_text(value, study.max_years) if study.fade_available else "—"

    strategy_columns: list[NumberColumn] = [
        ("worst cap %", "worst_capacity_pct", 1),
        ("cap spread", "capacity_spread_pct", 1),
        ("swing EFC max", "max_soc_swing_efc_per_year", 0),
        ("served kWh", "energy_served_kwh_per_year", 0),
        ("loss kWh", "losses_kwh_per_year", 0),
        ("grid kWh", "grid_import_kwh_per_year", 0),
    ]
    columns = ["strategy", f"years to {END_OF_LIFE_PCT:g} %", "first", *headers(strategy_columns)]
    strategy_rows = (
        (
            r["strategy"],
            eol(r["years_to_80_pct"]),
            r["first_pack_to_80"] if isinstance(r["first_pack_to_80"], str) else "—",
            *numbers(r, strategy_columns),
        )
        for r in study.strategies.to_dict("records")
    )
    title = f"{study.scenario.name} — {fade_note}; simulated {run.n_steps * run.step_s / 3600:g} h at {run.step_s:g} s, repeated"
    caption = (
        f"capacities in % of nameplate after {count(y, 'year')}; cap spread: the packs' max - min capacity, % points "
        "(not an SOC spread); energies per year; loss: DC-DC, I²R, standby and the main unit's draw"
    )
    console.print(table(title, columns, strategy_rows, caption=caption))
    pack_numbers: list[NumberColumn] = [
        ("SOH0", "soh_initial_pct", 0),
        ("swing EFC", "soc_swing_efc_per_year", 0),
        ("DoD>50", "deep_cycles_per_year", 0),
        ("maxDoD", "max_dod_pct", 0),
        ("h>=90", "time_high_h_per_year", 0),
        ("h<=10", "time_low_h_per_year", 0),
        ("cap %", "capacity_after_pct", 1),
        ("cal", "calendar_loss_pct", 1),
        ("cyc", "cycle_loss_pct", 1),
    ]
    pack_columns = ["strategy", "pack", *headers(pack_numbers), f"to {END_OF_LIFE_PCT:g} %"]
    pack_rows = (
        (r["strategy"], r["pack_id"], *numbers(r, pack_numbers), eol(r["years_to_80_pct"]))
        for r in study.packs.to_dict("records")
    )
    caption = (
        "per year: swing EFC (Σ|ΔSOC| / 200 %), cycles deeper than 50 %, hours at SOC >= 90 % and <= 10 %; "
        f"capacity after {count(y, 'year')} and its calendar/cycle loss, % of nameplate"
    )
    console.print(table("Packs", pack_columns, pack_rows, text_columns=2, caption=caption))
    if not study.fade_available:
        console.print(f"capacity fade unavailable: {study.fade_error}", soft_wrap=True, markup=False)
    if run.n_steps * run.step_s < 364 * 86400:
        console.print(
            f"note: the simulated period ({count(run.n_steps * run.step_s / 86400, 'day')}) is repeated to fill "
            "each year; a period shorter than a year misses the seasons.",
            soft_wrap=True,
        )
