"""Make-before-break in the live home: a device the decision lowers keeps covering what a rising device does not
deliver yet. Power in W, + discharge / - charge.

The home decision trusts a device to deliver its new setpoint from the moment it is written, and counts one that does
not at what it delivers only from a later decision (``follow_s``). In a handover that releases the outgoing device at
once while the incoming one may take seconds to start (latency, start delay): the home imports until a later
decision notices. :func:`make_before_break` adjusts the decision's setpoints before they are offered: every device
the decision raises (by more than ``tolerance_w``) leaves a shortfall, the part of its raise it does not deliver yet
(its new setpoint less the larger of its old setpoint and what it delivers), and the devices the decision lowers keep
that much of their old setpoints (shared in proportion to how much each is lowered, never above
its old setpoint nor its limit now). Devices at their reserve, full, offline, on a circuit, or stopped by the direction
interlock are never held; nothing is held while the setpoints point both ways. Once the rising device delivers, the
next decision releases the others (a brief over-supply, never an import); a later decision that keeps it where it is
holds nothing, so a device that never quite delivers its setpoint (PV behind its battery) holds nobody for long: the
home decision itself counts a device that lags at what it delivers.
"""

from __future__ import annotations

from collections.abc import Sequence

from socbal.home import kernel
from socbal.home.models import DeviceState

#: Decision reasons after which a lowered device may keep part of its old setpoint.
HOLDABLE = frozenset(
    kernel.REASON_TEXT[r]
    for r in (
        kernel.REASON_SHARE,
        kernel.REASON_CAPPED_DEVICE,
        kernel.REASON_RAMPING,
        kernel.REASON_STAGED_OFF,
        kernel.REASON_STANDING_BY,
        kernel.REASON_HANDING_OVER,
    )
)


def make_before_break(
    devices: Sequence[DeviceState], powers: Sequence[float], reasons: Sequence[str], tolerance_w: float
) -> list[float]:
    """The setpoints ``powers`` (W, signed, in ``devices`` order) with lowered devices held as the module docstring
    says; ``reasons`` are the decision's."""
    out = list(powers)
    moving = [p for p in out if p != 0.0]
    if not moving or (any(p > 0 for p in moving) and any(p < 0 for p in moving)):
        return out
    sign = 1.0 if moving[0] > 0 else -1.0
    shortfall_w = 0.0
    release_w = [0.0] * len(devices)  # how far each holdable device is lowered, W (magnitude)
    for i, (state, power, reason) in enumerate(zip(devices, out, reasons, strict=True)):
        new_w, old_w = sign * power, sign * state.last_setpoint_w
        measured_w = max(sign * (state.measured_w if state.measured_w is not None else state.last_setpoint_w), 0.0)
        if new_w > old_w + tolerance_w:  # raised now: what of the raise it does not deliver yet
            shortfall_w += max(new_w - max(measured_w, old_w), 0.0)
        elif state.online and state.circuit is None and reason in HOLDABLE and old_w > new_w:
            limit_w = state.max_discharge_w if sign > 0 else state.max_charge_w
            release_w[i] = max(min(old_w, limit_w) - new_w, 0.0)
    total_release_w = sum(release_w)
    if shortfall_w <= 0.0 or total_release_w <= 0.0:
        return out
    kept = min(shortfall_w / total_release_w, 1.0)
    return [p + sign * kept * r for p, r in zip(out, release_w, strict=True)]
