"""Print a sizing study's table (for the CLI)."""

from __future__ import annotations

import math

from socbal.wording import count

#: Columns printed: (column, header, format).
COLUMNS = (
    ("packs", "packs", "{:.0f}"),
    ("pv_kwp", "PV kWp", "{:g}"),
    ("strategy", "strategy", "{}"),
    ("storage_kwh", "storage kWh", "{:.2f}"),
    ("grid_import_kwh_yr", "grid import kWh/yr", "{:.0f}"),
    ("self_sufficiency_pct", "self-suff. %", "{:.1f}"),
    ("losses_kwh_yr", "losses kWh/yr", "{:.0f}"),
    ("cycles_per_pack_yr_mean", "cycles/pack/yr", "{:.0f}"),
    ("saved_kwh_yr", "saved kWh/yr", "{:.1f}"),
    ("gain_kwh_yr_per_kwh", "gain kWh/yr per kWh", "{:.1f}"),
    ("grid_cost_yr", "grid cost/yr", "{:.0f}"),
    ("payback_yr", "payback yr", "{:.1f}"),
)


def _cell(value, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return fmt.format(value)


def print_sweep(result, console=None) -> None:
    """The table of every combination (— where a value does not apply, e.g. the gain of the smallest count) on
    ``console`` (default 160 columns wide: the table is read, not wrapped)."""
    from rich.console import Console
    from rich.table import Table

    s = result.summary
    table = Table(
        title=f"{s['scenario']} — {count(s['combinations'], 'combination')}, energies per year"
        + (f", money in {s['currency']}" if s.get("currency") else "")
    )
    shown = [c for c in COLUMNS if c[0] in result.table]
    for _, header, _ in shown:
        table.add_column(header, justify="left" if header == "strategy" else "right")
    for row in result.table.to_dict("records"):
        table.add_row(*(_cell(row[c], fmt) for c, _, fmt in shown))
    (console or Console(width=160)).print(table)
