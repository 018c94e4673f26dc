"""One EMS decision from validated models: the readable face of :mod:`socbal.ems.kernel`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from socbal.ems import kernel
from socbal.ems.models import AllocateInput, PackState, Settings, prioritises_low_packs


@dataclass(frozen=True)
class PackDecision:
    """One pack's setpoint and why (power in W, + discharge / - charge)."""

    id: str
    power_w: float
    state: str  # "discharging", "charging" or "standby"
    weight: float  # balancing weight used to share the request (capacity_wh * f(SOC))
    reason: str
    reserve_latched: bool  # feed back as PackState.reserve_latched in the next decision


@dataclass(frozen=True)
class Decision:
    """Setpoints for every pack, in input order, and what could not be served (W)."""

    packs: tuple[PackDecision, ...]
    served_w: float
    unserved_w: float

    def to_contract(self, explain: bool = False) -> dict:
        """The ``socbal allocate`` output object; ``explain`` adds weight, reason and latch per pack."""
        packs = []
        for p in self.packs:
            item = {"id": p.id, "power_w": p.power_w, "state": p.state}
            if explain:
                item.update(weight=p.weight, reason=p.reason, reserve_latched=p.reserve_latched)
            packs.append(item)
        return {"packs": packs, "served_w": self.served_w, "unserved_w": self.unserved_w}


def state_of(power_w: float) -> str:
    """Name of the state a signed pack power puts a pack in."""
    if power_w > 0.0:
        return "discharging"
    if power_w < 0.0:
        return "charging"
    return "standby"


def priority_ranks(pack_ids: list[str], settings: Settings) -> np.ndarray:
    """Rank of each pack in the priority order (0 = served first); input order by default."""
    order = settings.priority if settings.priority is not None else pack_ids
    return np.array([order.index(pid) for pid in pack_ids], dtype=np.int64)


def decide(inp: AllocateInput) -> Decision:
    """Share the request among the packs per the settings (see :func:`kernel.allocate_into`)."""
    packs: list[PackState] = inp.packs
    s = inp.settings
    n = len(packs)
    soc = np.array([p.soc_pct for p in packs], dtype=np.float64)
    latched = np.array([p.reserve_latched for p in packs], dtype=np.bool_)
    power = np.zeros(n)
    weight = np.zeros(n)
    reason = np.zeros(n, dtype=np.int64)
    request = inp.request
    served = kernel.allocate_into(
        soc,
        np.array([p.capacity_wh for p in packs], dtype=np.float64),
        np.array([p.max_discharge_w for p in packs], dtype=np.float64),
        np.array([p.max_charge_w for p in packs], dtype=np.float64),
        latched,
        priority_ranks([p.id for p in packs], s),
        float(s.backup_reserve_pct),
        float(s.reserve_hysteresis_pct),
        kernel.STRATEGY_CODES[s.strategy],
        float(s.droop_exponent),
        float(request.signed_w),
        kernel.SOURCE_CODES[request.source or "pv"],
        prioritises_low_packs(s.ems_version),
        float(s.min_module_load_pct),
        power,
        weight,
        reason,
    )
    decisions = tuple(
        PackDecision(
            id=p.id,
            power_w=float(power[i]) + 0.0,  # + 0.0 turns -0.0 into 0.0
            state=state_of(float(power[i])),
            weight=float(weight[i]),
            reason=kernel.REASON_TEXT[int(reason[i])],
            reserve_latched=bool(kernel.reserve_latched_next(soc[i], latched[i], s.backup_reserve_pct, s.reserve_hysteresis_pct)),
        )
        for i, p in enumerate(packs)
    )
    requested = abs(request.signed_w)
    return Decision(packs=decisions, served_w=float(served), unserved_w=float(max(requested - served, 0.0)))
