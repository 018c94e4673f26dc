"""Terminal output of summaries (rich tables); never used by the library itself."""

from __future__ import annotations

import math
import sys

from rich.console import Console
from rich.table import Table


def _fmt(value: float, digits: int = 2) -> str:
    """A number for a table cell; NaN (never happened) shows as an em dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{digits}f}"


#: Width of tables written to a pipe or a log file: wide enough that no column is squeezed or cut.
PIPE_WIDTH = 1000


def terminal_console() -> Console:
    """A console on standard output: the terminal's width on a terminal, in pipes and logs wide enough for
    every table at full width (rich would otherwise assume 80 columns and cut numbers to 'reser…')."""
    return Console() if sys.stdout.isatty() else Console(width=PIPE_WIDTH)


def print_summary(summary: dict, console: Console | None = None) -> None:
    """Print a simulation summary: spread, energy and per-pack tables."""
    console = console or terminal_console()
    s = summary["spread"]
    head = Table(
        title=f"{summary['scenario']} — strategy {summary['strategy']}, reserve {summary['backup_reserve_pct']:g} %, "
        f"{summary['horizon_h']:g} h at {summary['step_s']:g} s",
        show_header=True,
    )
    head.add_column("SOC spread")
    head.add_column("value", justify="right")
    for label, key, unit in [
        ("initial", "initial_pct", "%"),
        ("max", "max_pct", "%"),
        ("final", "final_pct", "%"),
        ("time to < 5 points", "time_to_below_5_h", "h"),
        ("time to < 3 points", "time_to_below_3_h", "h"),
        ("time to < 1 point", "time_to_below_1_h", "h"),
        ("first pack at reserve", "first_reserve_h", "h"),
        ("spread then", "at_first_reserve_pct", "%"),
    ]:
        head.add_row(label, f"{_fmt(s[key])} {unit}")
    console.print(head)
    e = summary["energy_kwh"]
    energy = Table(title="Energy")
    energy.add_column("flow")
    energy.add_column("kWh", justify="right")
    for label, key in [
        ("household load", "load"),
        ("served by the device", "served_by_device"),
        ("grid import", "grid_import"),
        ("unserved load (grid off)", "unserved"),
        ("PV", "pv"),
        ("PV curtailed", "pv_curtailed"),
        ("grid to device (AC charging, aux)", "grid_to_device"),
        ("DC-DC and I²R loss", "conversion_loss"),
        ("pack standby", "standby"),
        ("main unit", "main_unit"),
    ]:
        energy.add_row(label, _fmt(e[key], 3))
    console.print(energy)
    packs = Table(title="Packs")
    for col in ("pack", "SOC0 %", "SOC %", "est %", "out kWh", "in kWh", "cycles", "loss kWh", "reserve h"):
        packs.add_column(col, justify="right")
    for p in summary["packs"]:
        packs.add_row(
            p["id"],
            _fmt(p["initial_soc_pct"], 1),
            _fmt(p["final_soc_pct"], 1),
            _fmt(p["final_soc_estimated_pct"], 1),
            _fmt(p["discharge_kwh"], 3),
            _fmt(p["charge_kwh"], 3),
            _fmt(p["equivalent_full_cycles"], 3),
            _fmt(p["conversion_loss_kwh"] + p["standby_kwh"], 3),
            _fmt(p["reserve_standby_h"], 2),
        )
    console.print(packs)


def print_comparison(result, console: Console | None = None) -> None:
    """Print a :class:`socbal.compare.CompareResult` like the spec's table: rows = metrics, columns = topologies."""
    from socbal.compare import METRIC_ROWS, TOPOLOGIES, TOPOLOGY_LABELS

    console = console or terminal_console()
    s = result.summary
    frame = result.metrics.set_index("topology")
    table = Table(
        title=f"{s['scenario']} — {len(s['packs'])} packs ({', '.join(s['packs'])}), {s['chemistry'].upper()}, "
        f"{s['horizon_h']:g} h at {s['step_s']:g} s, same battery demand"
    )
    table.add_column("metric", no_wrap=True)
    for t in TOPOLOGIES:
        table.add_column(TOPOLOGY_LABELS[t], justify="right")
    for label, column, unit, digits in METRIC_ROWS:
        table.add_row(f"{label}, {unit}", *(_fmt(float(frame.loc[t, column]), digits) for t in TOPOLOGIES))
    table.add_row("  which pack, why", *(frame.loc[t, "first_pack_stop"] or "—" for t in TOPOLOGIES))
    final = result.packs.groupby("topology", observed=True, sort=False)["final_soc_pct"]
    table.add_row("Final SOC per pack, %", *(" / ".join(f"{v:.0f}" for v in final.get_group(t)) for t in TOPOLOGIES))
    console.print(table)
    for note in s["notes"]:
        console.print(f"• {note}", style="dim", highlight=False)
