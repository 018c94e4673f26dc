"""Telemetry records, their validation and the fail-safe clamp on setpoints.

A pack whose telemetry is missing, older than the allowed age, NaN/inf, out of
range, or reported offline by the device is *offline*: it gets setpoint 0 and
takes no part in the decision. It rejoins as soon as its telemetry is good again.
Whatever the telemetry says, :func:`clamp_setpoint` never lets a setpoint exceed
the pack's limits or discharge a pack at or below the backup reserve.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

#: Largest power any telemetry value may claim, W (beyond it the value is garbage).
MAX_PLAUSIBLE_W = 100_000.0


@dataclass(frozen=True)
class PackReading:
    """One pack's telemetry as received (values not yet trusted)."""

    soc_pct: float
    power_w: float
    max_discharge_w: float
    max_charge_w: float
    online: bool
    received_s: float  # monotonic time the telemetry was last updated by the device


@dataclass(frozen=True)
class DeviceReading:
    """Device-wide telemetry: PV, household load, grid (values not yet trusted).

    ``grid_w``: power from the grid at the device's meter, W (+ import / - export), when the device reports it.
    """

    pv_w: float
    load_w: float
    grid_on: bool
    received_s: float
    grid_w: float | None = None


@dataclass
class Telemetry:
    """One snapshot of everything the runtime knows about the device.

    ``packs`` maps pack id to its latest reading (``None`` when none arrived);
    ``errors`` maps a pack id (or ``"device"``/``"link"``) to why its last
    telemetry could not be read at all (garbage payload, lost connection).
    """

    device: DeviceReading | None = None
    packs: dict[str, PackReading | None] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def _bad_number(name: str, value: float, low: float, high: float) -> str | None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return f"{name} is not a number: {value!r}"
    if not math.isfinite(value):
        return f"{name} is {value}"
    if not low <= value <= high:
        return f"{name} = {value:g} out of range {low:g}..{high:g}"
    return None


def _fault(reading, now_s: float, max_age_s: float, what: str, ranges) -> str | None:
    if reading is None:
        return f"missing: no {what} yet"
    age = now_s - reading.received_s
    if age > max_age_s:
        return f"stale: {what} is {age:.1f} s old (limit {max_age_s:g} s)"
    for name, low, high in ranges:
        problem = _bad_number(name, getattr(reading, name), low, high)
        if problem:
            return f"invalid: {problem}"
    return None


def pack_fault(reading: PackReading | None, now_s: float, max_age_s: float) -> str | None:
    """Why this pack must be treated as offline, or ``None`` when its telemetry is good."""
    fault = _fault(
        reading,
        now_s,
        max_age_s,
        "telemetry",
        (
            ("soc_pct", 0.0, 100.0),
            ("power_w", -MAX_PLAUSIBLE_W, MAX_PLAUSIBLE_W),
            ("max_discharge_w", 0.0, MAX_PLAUSIBLE_W),
            ("max_charge_w", 0.0, MAX_PLAUSIBLE_W),
        ),
    )
    if fault is None and reading is not None and not reading.online:
        return "offline: the device reports the pack offline"
    return fault


def device_fault(reading: DeviceReading | None, now_s: float, max_age_s: float) -> str | None:
    """Why the device-wide telemetry cannot be used, or ``None``."""
    return _fault(
        reading, now_s, max_age_s, "device telemetry", (("pv_w", 0.0, MAX_PLAUSIBLE_W), ("load_w", 0.0, MAX_PLAUSIBLE_W))
    )


def clamp_setpoint(power_w: float, soc_pct: float, reserve_pct: float, max_discharge_w: float, max_charge_w: float) -> float:
    """The last guard before a setpoint leaves the runtime (W, + discharge / - charge).

    NaN becomes 0; discharge is capped at ``max_discharge_w`` and is 0 at or below
    the reserve; charge is capped at ``max_charge_w`` and is 0 at 100 % SOC.
    Limits that are NaN or negative count as 0.
    """
    if not math.isfinite(power_w) or not math.isfinite(soc_pct):
        return 0.0
    dis = max_discharge_w if math.isfinite(max_discharge_w) and max_discharge_w > 0 else 0.0
    chg = max_charge_w if math.isfinite(max_charge_w) and max_charge_w > 0 else 0.0
    if power_w > 0.0:
        return 0.0 if soc_pct <= reserve_pct else min(power_w, dis)
    if power_w < 0.0:
        return 0.0 if soc_pct >= 100.0 else max(power_w, -chg)
    return 0.0


def fault_code(message: str) -> str:
    """The kind of a fault message (``"stale"``, ``"invalid"``, ``"garbage"``, ...): the text before ':'."""
    return message.split(":", 1)[0]


class FaultTracker:
    """Remembers active faults so that each is logged once when it starts and once when it clears.

    Fault messages read ``"<kind>: details"``; a fault whose details change but
    whose kind stays (a stale age growing) is not logged again.
    """

    def __init__(self) -> None:
        self.active: dict[str, str] = {}

    def update(self, current: dict[str, str]) -> tuple[dict[str, str], list[str]]:
        """Feed this cycle's faults (key -> message); returns (new or changed faults, cleared keys)."""
        new = {k: v for k, v in current.items() if k not in self.active or fault_code(self.active[k]) != fault_code(v)}
        cleared = [k for k in self.active if k not in current]
        self.active = dict(current)
        return new, cleared
