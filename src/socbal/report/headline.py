"""The numbers a user asks first, computed from one run's recorded results (never re-simulated).

Energies in kWh, shares and efficiencies in %, times in h.
"""

from __future__ import annotations

import html

import pandas as pd

from socbal.report.data import RunData
from socbal.sim.metrics import self_sufficiency_pct

WH_PER_KWH = 1000.0


def _share_pct(part: float, whole: float) -> float:
    """``part`` as % of ``whole``; NaN when ``whole`` is zero (nothing to share)."""
    return 100.0 * part / whole if whole > 0 else float("nan")


def losses_kwh(run: RunData) -> dict[str, float]:
    """Losses over the run split by cause, kWh: DC-DC, I²R, pack standby, main unit (from the bus / its battery / the grid)."""
    packs, dev = run.packs, run.device
    zero = pd.Series(0.0)
    from_bus = float(dev.get("main_from_bus_wh", zero).sum()) / WH_PER_KWH
    from_battery = float(dev.get("main_from_battery_wh", zero).sum()) / WH_PER_KWH
    main_unit = float(dev.get("main_unit_wh", zero).sum()) / WH_PER_KWH
    return {
        "DC-DC": float(packs["dcdc_loss_wh"].sum()) / WH_PER_KWH,
        "I²R": float(packs["i2r_loss_wh"].sum()) / WH_PER_KWH,
        "pack standby": float(packs["standby_wh"].sum()) / WH_PER_KWH,
        "main unit from the bus": from_bus,
        "main unit from its battery": from_battery,
        "main unit from the grid": max(0.0, main_unit - from_bus - from_battery),  # over the aux module
    }


def stored_change_kwh(run: RunData) -> float:
    """Change of the energy stored in all packs from start to end (true SOC × usable capacity), kWh."""
    return sum(
        float(p["usable_capacity_kwh"]) * (float(p["final_soc_pct"]) - float(p["initial_soc_pct"])) / 100.0
        for p in run.summary["packs"]
    )


def headline(run: RunData) -> dict[str, float]:
    """Self-sufficiency, self-consumption and battery round trip (%), total losses (kWh).

    - self-sufficiency: share of the household load not taken from the grid (nor left unserved), the
      device's own AC charging and aux supply counted as taken (:func:`socbal.sim.metrics.self_sufficiency_pct`);
    - self-consumption: share of the PV energy used locally (neither exported nor curtailed);
    - round trip: bus-side energy out of the packs over bus-side energy in, the energy still
      stored at the end (or taken from the start) counted as in (or out); NaN when nothing went in or out.
    """
    e = run.summary["energy_kwh"]
    pv = float(e.get("pv", 0.0))
    out_kwh, in_kwh = float(e.get("battery_discharge", 0.0)), float(e.get("battery_charge", 0.0))
    stored = stored_change_kwh(run)
    # no bus-side energy in or out: no trip to judge (standby alone read as 0 %)
    round_trip = _share_pct(out_kwh + max(stored, 0.0), in_kwh + max(-stored, 0.0)) if out_kwh + in_kwh > 0 else float("nan")
    return {
        "self_sufficiency_pct": self_sufficiency_pct(e),
        "self_consumption_pct": _share_pct(pv - float(e.get("export", 0.0)) - float(e.get("pv_curtailed", 0.0)), pv),
        "round_trip_pct": round_trip,
        "losses_kwh": sum(losses_kwh(run).values()),
    }


def per_pack(run: RunData) -> pd.DataFrame:
    """Throughput EFC, time at the reserve (h) and losses (kWh) of every pack, one row per pack."""
    sums = run.packs.groupby("pack_id", observed=True)[["dcdc_loss_wh", "i2r_loss_wh", "standby_wh"]].sum() / WH_PER_KWH
    rows = {
        p["id"]: {
            "throughput EFC": float(p["throughput_efc"]),
            "at reserve h": float(p["reserve_standby_h"]),
            "DC-DC kWh": float(sums.loc[p["id"], "dcdc_loss_wh"]),
            "I²R kWh": float(sums.loc[p["id"], "i2r_loss_wh"]),
            "standby kWh": float(sums.loc[p["id"], "standby_wh"]),
        }
        for p in run.summary["packs"]
    }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("pack")


def _trip_label(energy_kwh: dict) -> str:
    """What ``round_trip_pct`` is in this run: a round trip only when energy went both in and out; a run that only
    discharged (charged) measures the discharge (charge) efficiency, the stored change standing for the other leg."""
    if float(energy_kwh.get("battery_charge", 0.0)) <= 0.0 < float(energy_kwh.get("battery_discharge", 0.0)):
        return "battery discharge efficiency"
    if float(energy_kwh.get("battery_discharge", 0.0)) <= 0.0 < float(energy_kwh.get("battery_charge", 0.0)):
        return "battery charge efficiency"
    return "battery round trip"


def headline_html(run: RunData) -> str:
    """The headline numbers as a row of boxes (an HTML fragment)."""
    h = headline(run)
    packs = run.summary["packs"]
    cycles = [float(p["throughput_efc"]) for p in packs]
    reserve_h = [float(p["reserve_standby_h"]) for p in packs]
    low, high = f"{min(cycles):.1f}", f"{max(cycles):.1f}"
    boxes = [
        ("self-sufficiency", f"{h['self_sufficiency_pct']:.1f} %", "of the load not from the grid"),
        ("self-consumption", f"{h['self_consumption_pct']:.1f} %", "of the PV used locally"),
        (_trip_label(run.summary["energy_kwh"]), f"{h['round_trip_pct']:.1f} %", "bus side, stored change counted"),
        ("losses", f"{h['losses_kwh']:.2f} kWh", "DC-DC, I²R, standby, main unit"),
        ("cycles per pack", low if low == high else f"{low}–{high}", "throughput EFC (bus-side energy)"),
        ("time at reserve", f"{max(reserve_h):.1f} h", "longest of any pack"),
    ]
    return boxes_html([(label, value.replace("nan %", "—"), note) for label, value, note in boxes])


def boxes_html(boxes: list[tuple[str, str, str]]) -> str:
    """A row of headline boxes (an HTML fragment), each a (label, value, note)."""
    return (
        '<div class="headline">'
        + "".join(
            f"<div><span>{html.escape(label)}</span><b>{html.escape(value)}</b><span>{html.escape(note)}</span></div>"
            for label, value, note in boxes
        )
        + "</div>"
    )
