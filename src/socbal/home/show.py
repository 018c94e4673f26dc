"""Terminal output of a home run's summary (rich tables); never used by the library itself."""

from __future__ import annotations

import math

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table

from socbal.wording import fixed

#: What a home metric that does not apply shows (the handover gap and the device SOC spread of a one-device home).
NOT_APPLICABLE = "n/a (one device)"
#: The home metrics printed, with their labels and units.
HOME_ROWS = (
    ("household load", "load_kwh", "kWh"),
    ("PV on the devices' inputs", "pv_kwh", "kWh"),
    ("served by storage", "served_by_storage_kwh", "kWh"),
    ("storage output at AC", "storage_ac_kwh", "kWh"),
    ("grid import", "grid_import_kwh", "kWh"),
    ("export", "export_kwh", "kWh"),
    ("change in stored energy", "stored_change_kwh", "kWh"),
    ("net import, storage-corrected", "net_import_storage_corrected_kwh", "kWh"),
    ("avoidable import", "avoidable_import_kwh", "kWh"),
    ("avoidable export", "avoidable_export_kwh", "kWh"),
    ("cross-charging", "cross_charge_kwh", "kWh"),
    ("longest handover gap", "max_handover_gap_s", "s"),
    ("device SOC spread, max", "device_soc_spread_max_pct", "%"),
    ("device SOC spread, final", "device_soc_spread_final_pct", "%"),
    ("losses (conversion, standby, main units)", "losses_kwh", "kWh"),
    ("  of which the main units' own draw", "main_unit_kwh", "kWh"),
    ("grid sign changes", "grid_sign_changes", ""),
    ("staging switches", "staging_switches", ""),
    ("meter stale (every device at 0 W)", "meter_stale_s", "s"),
)


def home_value_text(value: float | int | None, unit: str) -> str:
    """One home metric with its unit; NaN or None (read back from ``summary.json``) is not applicable: the handover
    gap and the device SOC spread of a one-device home. Energies (kWh) and percentages show 3 decimals, durations (s)
    as measured (5 s, not 5.000 s: they are whole steps)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NOT_APPLICABLE
    if isinstance(value, float):
        return f"{value:g} {unit}" if unit == "s" else f"{fixed(value, 3)} {unit}".strip()
    return f"{value} {unit}".strip()


def print_home_summary(summary: dict, console: Console | None = None) -> None:
    """Print the home metrics and one row per device."""
    console = console or Console()
    h = summary["home"]
    title = (
        f"{summary['scenario']} — home strategy {summary['strategy']}, staging {summary['staging']}, "
        f"{summary['horizon_h']:g} h at {summary['step_s']:g} s"
    )
    table = Table(title=title, min_width=cell_len(title))  # as wide as its title: never "0.5 h at" / "1 s"
    table.add_column("home")
    table.add_column("value", justify="right")
    for label, key, unit in HOME_ROWS:
        table.add_row(label, home_value_text(h[key], unit))
    console.print(table)
    devices = Table(show_header=True)
    for column in ("device", "final SOC %", "discharge kWh", "charge kWh", "writes / h"):
        devices.add_column(column, justify="left" if column == "device" else "right")
    for did, d in h["devices"].items():
        energy = d["energy_kwh"]
        final = sum(p["final_soc_pct"] * p["usable_capacity_kwh"] for p in d["packs"]) / sum(
            p["usable_capacity_kwh"] for p in d["packs"]
        )
        devices.add_row(
            did,
            f"{final:.1f}",
            f"{energy['battery_discharge']:.3f}",
            f"{energy['battery_charge']:.3f}",
            f"{h['writes_per_device_per_h'][did]:.1f}",
        )
    console.print(devices)
