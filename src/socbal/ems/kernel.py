"""The EMS decision as plain array code, compiled with Numba.

This module *is* the EMS: ``socbal allocate``, the simulator's hot loop and the
live runtime all call :func:`allocate_into`. It is a pure function of its
arguments (no clock, no I/O, no globals besides the integer codes below).

Sign convention: pack power is positive when the pack discharges (energy
leaves the pack) and negative when it charges. All powers are in W, SOC and
the reserve in percent (0-100), capacities in Wh.

Speed: the per-call helpers never allocate (compiled without reference counting) and
LLVM inlines them into the simulator's loop (see :mod:`socbal.jit`), so a decision there
costs no calls and no atomic reference-count updates. :func:`allocate_with_scratch` takes its scratch arrays
from the caller; :func:`allocate_into` allocates them and runs the same code.
"""

from __future__ import annotations

import numpy as np

from socbal.jit import compiled_only_kernel, fast_arithmetic, helper_kernel, inline_kernel, ir_inline_kernel

# Strategy codes: how SOCs turn into power shares (weight w = capacity * f unless said otherwise).
STRATEGY_SPEC = 0  # f = e / (1 + e / SPEC_SOFTENING_PCT), e = SOC - reserve on discharge, 100 - SOC on charge
STRATEGY_DROOP = 1  # f = SOC**n on discharge, (100 - SOC)**n on charge
STRATEGY_RESERVE_AWARE = 2  # f = SOC - reserve on discharge: all packs reach the reserve together
STRATEGY_CAPACITY_PROPORTIONAL = 3  # f = 1: shares by capacity, no SOC feedback (baseline)
STRATEGY_PRIORITY = 4  # fixed order: each pack is filled up to its limit before the next
STRATEGY_SOC_PROPORTIONAL = 5  # f = SOC on discharge, 100 - SOC on charge (the spec's example read literally)
STRATEGY_EQUAL = 6  # w = 1: equal power for every pack, no capacity and no SOC feedback (baseline)

STRATEGY_CODES = {
    "spec": STRATEGY_SPEC,
    "soc-proportional": STRATEGY_SOC_PROPORTIONAL,
    "droop": STRATEGY_DROOP,
    "reserve-aware": STRATEGY_RESERVE_AWARE,
    "capacity-proportional": STRATEGY_CAPACITY_PROPORTIONAL,
    "equal": STRATEGY_EQUAL,
    "priority": STRATEGY_PRIORITY,
}

#: Softening of the default rule, % SOC: ``f = e / (1 + e / K)`` with e the energy above the reserve (discharge)
#: or below full (charge), in % SOC. Linear in e near the reserve, so every pack reaches it together; softened
#: far from it so the spec's example (80 % / 40 %, reserve 10 %, 900 W) gives its 600 W / 300 W: 70/(1+70/K) is
#: twice 30/(1+30/K) at K = 210.
SPEC_SOFTENING_PCT = 210.0
#: How far (% SOC) below the backup reserve a pack may be and still count as *at* it when AC-only charging fills the
#: packs below the reserve first (EMS 1.01.05): a pack that discharged to the reserve lands up to ~1.4e-7 points below
#: it by rounding (its discharge limit's refinement), and was filled as if it were below (emulate_80_40.toml: the main
#: unit, at the reserve, took half the AC charge and ended 0.5 points above it, the pack below it still 0.46 below).
RESERVE_ROUNDING_PCT = 1e-6

# Charging source codes (ignored when the request is a discharge).
SOURCE_PV = 0
SOURCE_PV_AC = 1
SOURCE_AC = 2
SOURCE_CODES = {"pv": SOURCE_PV, "pv+ac": SOURCE_PV_AC, "ac": SOURCE_AC}

# Why a pack got the power it got (one code per pack, see ``REASON_TEXT``).
REASON_SHARE = 0
REASON_CAPPED = 1
REASON_AT_RESERVE = 2
REASON_FULL = 3
REASON_NO_LIMIT = 4
REASON_AC_TARGET_REACHED = 5
REASON_NOT_NEEDED = 6
REASON_LOW_LOAD = 7
REASON_IDLE = 8

REASON_TEXT = {
    REASON_SHARE: "share by weight",
    REASON_CAPPED: "capped at its DC-DC limit",
    REASON_AT_RESERVE: "at or below the backup reserve: standby",
    REASON_FULL: "full: takes no charge",
    REASON_NO_LIMIT: "0 W in this direction: its BMS cut it off (cells full or empty), or its limit is 0 W",
    REASON_AC_TARGET_REACHED: "AC-only charging stops: total SOC has reached the backup reserve",
    REASON_NOT_NEEDED: "not needed: the request was served by packs ahead of it",
    REASON_LOW_LOAD: "off at low power: its share was below min_module_load_pct of its limit",
    REASON_IDLE: "idle: nothing requested (0 W)",
}

FULL_SOC_PCT = 100.0
_EPS_W = 1e-9
# Water-filling weights whose sum is below _TINY_WEIGHT_SUM (tiny, e.g. denormal, weights) are scaled up by
# _WEIGHT_RESCALE, a power of two (exact), before the level remaining / sum is taken, so that it cannot overflow to inf;
# the smallest denormal (2**-1074) becomes 2**-474. Weights of real packs (W x Wh sized) never come near it.
_TINY_WEIGHT_SUM = 2.0**-500
_WEIGHT_RESCALE = 2.0**600


@inline_kernel
@fast_arithmetic
def reserve_latched_next(soc_pct: float, latched: bool, reserve_pct: float, hysteresis_pct: float) -> bool:
    """Whether a pack is held in reserve standby (may not discharge).

    A pack at or below the reserve is latched; it is released only once its SOC
    has risen to ``reserve_pct + hysteresis_pct``, so it does not flap at the
    boundary. With ``latched=False`` this is exactly the spec's rule.
    """
    if soc_pct <= reserve_pct:
        return True
    return latched and soc_pct < reserve_pct + hysteresis_pct


@inline_kernel
@fast_arithmetic
def total_soc_pct(soc_pct: np.ndarray, capacity_wh: np.ndarray) -> float:
    """Capacity-weighted SOC of all packs, in percent."""
    energy = 0.0
    capacity = 0.0
    for i in range(soc_pct.shape[0]):
        energy += soc_pct[i] * capacity_wh[i]
        capacity += capacity_wh[i]
    if capacity <= 0.0:
        return 0.0
    return energy / capacity


@compiled_only_kernel
@fast_arithmetic
def pack_weight(
    strategy: int, capacity_wh: float, soc_pct: float, reserve_pct: float, droop_exponent: float, discharging: bool
) -> float:
    """A pack's balancing weight (its share of the request is weight / sum of weights), Wh x SOC factor."""
    if strategy == STRATEGY_EQUAL:
        return 1.0
    if strategy == STRATEGY_CAPACITY_PROPORTIONAL or strategy == STRATEGY_PRIORITY:
        return capacity_wh
    if discharging:
        if strategy == STRATEGY_SPEC or strategy == STRATEGY_RESERVE_AWARE:
            headroom = soc_pct - reserve_pct if soc_pct > reserve_pct else 0.0  # not max(): no overload to compile
        else:
            headroom = soc_pct
    else:
        headroom = FULL_SOC_PCT - soc_pct
    if strategy == STRATEGY_SPEC:
        # e / (1 + e / K) written e K / (K + e): one division, not two (within a few ulps; exact for the spec's example)
        return capacity_wh * headroom * SPEC_SOFTENING_PCT / (SPEC_SOFTENING_PCT + headroom)
    if strategy == STRATEGY_DROOP:
        return capacity_wh * headroom**droop_exponent
    return capacity_wh * headroom


@compiled_only_kernel
@fast_arithmetic
def _water_fill(
    request_w: float,
    weight: np.ndarray,
    limit_w: np.ndarray,
    member: np.ndarray,
    power_w: np.ndarray,
    reason: np.ndarray,
    active: np.ndarray,
    use: np.ndarray,
) -> float:
    """Share ``request_w`` among ``member`` packs in proportion to ``weight``, capped by ``limit_w``.

    A pack whose share would exceed its limit is capped and the rest of the
    request is shared among the others (water-filling). Writes the magnitudes
    into ``power_w`` and returns the power served, in W. ``active`` (bool) and
    ``use`` (float) are scratch arrays of the packs' length.
    """
    n = weight.shape[0]
    remaining = request_w
    # If every member's weight is zero, share by limit instead of not at all.
    weight_sum = 0.0
    for i in range(n):
        active[i] = member[i]
        if active[i]:
            weight_sum += weight[i]
    for i in range(n):
        use[i] = weight[i] if weight_sum > 0.0 else limit_w[i]
    for _ in range(n + 1):
        weight_sum = 0.0
        for i in range(n):
            if active[i]:
                weight_sum += use[i]
        if remaining <= _EPS_W or weight_sum <= 0.0:
            break
        if weight_sum < _TINY_WEIGHT_SUM:
            weight_sum = 0.0
            for i in range(n):
                use[i] *= _WEIGHT_RESCALE
                if active[i]:
                    weight_sum += use[i]
        level = remaining / weight_sum
        capped_any = False
        for i in range(n):
            if active[i] and level * use[i] >= limit_w[i]:
                power_w[i] = limit_w[i]
                reason[i] = REASON_CAPPED
                remaining -= limit_w[i]
                active[i] = False
                capped_any = True
        if not capped_any:
            for i in range(n):
                if active[i]:
                    power_w[i] = level * use[i]
                    reason[i] = REASON_SHARE
            remaining = 0.0
            break
    served = 0.0
    for i in range(n):
        if member[i]:
            served += power_w[i]
    return served


@compiled_only_kernel
@fast_arithmetic
def _share_uncapped(
    level: float, weight: np.ndarray, limit_w: np.ndarray, member: np.ndarray, power_w: np.ndarray, reason: np.ndarray
) -> float:
    """:func:`_water_fill` in closed form when no ``member`` pack's share ``level * weight`` (W) reaches its limit: the
    same numbers bit for bit (``level`` is the request over the members' weight sum, added in pack order); the power
    served, W. Returns -1 when a share reaches its limit (water-filling must decide), the members left as the decision
    starts them: 0 W, ``REASON_NOT_NEEDED``. One pass: shares are written as they are checked, and undone on a cap."""
    n = weight.shape[0]
    served = 0.0
    for i in range(n):
        if member[i]:
            share_w = level * weight[i]
            if share_w >= limit_w[i]:
                for j in range(i):
                    if member[j]:
                        power_w[j] = 0.0
                        reason[j] = REASON_NOT_NEEDED
                return -1.0
            power_w[i] = share_w
            reason[i] = REASON_SHARE
            served += share_w
    return served


@ir_inline_kernel  # one call site (_share_in_tiers): no compiled function of its own
def _fill_tiers(
    magnitude_w: float,
    eligible: np.ndarray,
    tier: np.ndarray,
    weight: np.ndarray,
    limit: np.ndarray,
    member: np.ndarray,
    power_w: np.ndarray,
    reason: np.ndarray,
    active: np.ndarray,
    use: np.ndarray,
) -> float:
    """Fill the tiers in ascending order, each by water-filling among its eligible packs; the power served, W."""
    n = weight.shape[0]
    max_tier = 0
    for i in range(n):
        if eligible[i] and tier[i] > max_tier:  # not max(): no integer specialisation of it to compile
            max_tier = tier[i]
    if max_tier > 2 * n:  # not min(), for the same reason (a tier is at most 2 n - 1)
        max_tier = 2 * n
    served = 0.0
    for level in range(max_tier + 1):  # tiers above the highest eligible one are empty
        any_member = False
        for i in range(n):
            member[i] = eligible[i] and tier[i] == level
            any_member = any_member or member[i]
        if any_member:
            served += _water_fill(magnitude_w - served, weight, limit, member, power_w, reason, active, use)
        if magnitude_w - served <= _EPS_W:
            break
    return served


#: Two SOC factors this close (relative) are a tie: packs at the same SOC are equally far ahead.
_TIE_REL = 1e-9


@ir_inline_kernel  # one call site (_share_in_tiers): no compiled function of its own
def _switch_off_one(
    served_w: float,
    min_module_load_pct: float,
    capacity_wh: np.ndarray,
    eligible: np.ndarray,
    tier: np.ndarray,
    weight: np.ndarray,
    limit: np.ndarray,
    power_w: np.ndarray,
    reason: np.ndarray,
) -> bool:
    """Switch off one lightly loaded pack if the rest can still serve ``served_w`` (W); whether one was.

    Only the pack furthest ahead in the request's direction may go off: the one with the smallest SOC factor of
    the balancing rule (the lowest SOC when discharging, the highest when charging; a tie, any of them), and only
    if its share is light. A lightly loaded pack behind the others stays on (switching off a small, empty pack
    while charging opened the spread by 11 points on ``mixed_old_new.toml`` at 25 %). When one is, it leaves
    ``eligible`` and the eligible packs' powers are cleared for the tiers to be filled again.
    """
    n = weight.shape[0]
    drop = -1
    lead = -1
    working = 0
    last_tier = -1
    for i in range(n):
        if power_w[i] > 0.0:
            working += 1
            if tier[i] > last_tier:
                last_tier = tier[i]
    for i in range(n):
        # Only the last tier in use gives way (a higher tier must not gain from a lower one), and the SOC
        # factor f = weight / capacity decides, so SOCs (not weights) are what stays together.
        if (
            power_w[i] > 0.0
            and tier[i] == last_tier
            and (lead < 0 or weight[i] * capacity_wh[lead] < weight[lead] * capacity_wh[i])
        ):
            lead = i
    for i in range(n):
        if (
            power_w[i] > 0.0
            and tier[i] == last_tier
            and power_w[i] < min_module_load_pct / 100.0 * limit[i]
            and weight[i] * capacity_wh[lead] <= weight[lead] * capacity_wh[i] * (1.0 + _TIE_REL)
        ):
            drop = i
            break
    if drop < 0 or working <= 1:
        return False
    room_w = 0.0
    for i in range(n):
        if eligible[i] and i != drop and tier[i] <= last_tier:
            room_w += limit[i]
    if room_w < served_w - _EPS_W:  # the others in its tier and before could not take its share: keep it on
        return False
    eligible[drop] = False
    for i in range(n):
        if eligible[i]:
            power_w[i] = 0.0
            reason[i] = REASON_NOT_NEEDED
    power_w[drop] = 0.0
    reason[drop] = REASON_LOW_LOAD
    return True


@helper_kernel  # a call of its own: it runs only with tiers or low-load switching, and keeps the hot loop small
def _share_in_tiers(
    magnitude_w: float,
    min_module_load_pct: float,
    soc_pct: np.ndarray,
    capacity_wh: np.ndarray,
    priority_rank: np.ndarray,
    reserve_pct: float,
    low_packs_first: bool,
    by_priority: bool,
    eligible: np.ndarray,
    tier: np.ndarray,
    weight: np.ndarray,
    limit: np.ndarray,
    member: np.ndarray,
    power_w: np.ndarray,
    reason: np.ndarray,
    active: np.ndarray,
    use: np.ndarray,
) -> float:
    """Share ``magnitude_w`` (W) tier by tier (:func:`_fill_tiers`); with ``min_module_load_pct`` > 0, then switch off
    lightly loaded packs one at a time while the rest still serve as much (:func:`_switch_off_one`), filling the
    tiers again after each; the power served, W.

    The tiers: with ``low_packs_first`` the packs below ``reserve_pct`` (% SOC; more than :data:`RESERVE_ROUNDING_PCT`)
    come first, and ``by_priority`` orders
    the packs within each by ``priority_rank``; otherwise every pack is in one tier.
    """
    n = weight.shape[0]
    for i in range(n):
        tier[i] = n if low_packs_first and soc_pct[i] >= reserve_pct - RESERVE_ROUNDING_PCT else 0
        if by_priority:
            tier[i] += priority_rank[i]
    served_w = 0.0
    for attempt in range(n + 1):  # one fill, then one more per pack switched off
        if attempt > 0 and not (
            min_module_load_pct > 0.0
            and _switch_off_one(served_w, min_module_load_pct, capacity_wh, eligible, tier, weight, limit, power_w, reason)
        ):
            break
        served_w = _fill_tiers(magnitude_w, eligible, tier, weight, limit, member, power_w, reason, active, use)
    return served_w


def allocate_scratch(n_packs: int) -> tuple[np.ndarray, ...]:
    """Scratch for :func:`allocate_with_scratch`: ``eligible, member, active`` (bool), ``limit, use`` (W), ``tier``."""
    flags = [np.zeros(n_packs, dtype=np.bool_) for _ in range(3)]
    return (*flags, np.zeros(n_packs), np.zeros(n_packs), np.zeros(n_packs, dtype=np.int64))


def allocate_into(
    soc_pct: np.ndarray,
    capacity_wh: np.ndarray,
    max_discharge_w: np.ndarray,
    max_charge_w: np.ndarray,
    reserve_latched: np.ndarray,
    priority_rank: np.ndarray,
    reserve_pct: float,
    hysteresis_pct: float,
    strategy: int,
    droop_exponent: float,
    request_w: float,
    source: int,
    ems_prioritises_low_packs: bool,
    min_module_load_pct: float,
    power_w: np.ndarray,
    weight: np.ndarray,
    reason: np.ndarray,
) -> float:
    """Decide every pack's power for one request; returns the power served in W.

    ``request_w`` > 0 asks the packs to discharge that much, < 0 to charge
    ``-request_w`` from ``source``. ``ems_prioritises_low_packs`` is True for
    EMS 1.01.05 or later (AC-only charging fills packs below the reserve first).
    ``priority_rank`` orders packs for the ``priority`` strategy (0 = first).
    ``min_module_load_pct`` > 0 switches off, one at a time, the pack furthest ahead (smallest SOC factor of the
    balancing rule) while its share is below that share of its limit and the others can take the whole request
    (a DC-DC module is inefficient at low load); 0 gives the spec's rule.
    Outputs: ``power_w`` (signed, per the sign convention), ``weight`` (the
    balancing weight used, W-share units) and ``reason`` (a ``REASON_*`` code).
    """
    eligible, member, active, limit, use, tier = allocate_scratch(soc_pct.shape[0])
    return allocate_with_scratch(
        soc_pct,
        capacity_wh,
        max_discharge_w,
        max_charge_w,
        reserve_latched,
        priority_rank,
        reserve_pct,
        hysteresis_pct,
        strategy,
        droop_exponent,
        request_w,
        source,
        ems_prioritises_low_packs,
        min_module_load_pct,
        power_w,
        weight,
        reason,
        eligible,
        member,
        active,
        limit,
        use,
        tier,
    )


@ir_inline_kernel  # one call site in each loop; socbal allocate compiles it on its own
def allocate_with_scratch(
    soc_pct: np.ndarray,
    capacity_wh: np.ndarray,
    max_discharge_w: np.ndarray,
    max_charge_w: np.ndarray,
    reserve_latched: np.ndarray,
    priority_rank: np.ndarray,
    reserve_pct: float,
    hysteresis_pct: float,
    strategy: int,
    droop_exponent: float,
    request_w: float,
    source: int,
    ems_prioritises_low_packs: bool,
    min_module_load_pct: float,
    power_w: np.ndarray,
    weight: np.ndarray,
    reason: np.ndarray,
    eligible: np.ndarray,
    member: np.ndarray,
    active: np.ndarray,
    limit: np.ndarray,
    use: np.ndarray,
    tier: np.ndarray,
) -> float:
    """:func:`allocate_into` with caller-owned scratch (see :func:`allocate_scratch`): no allocation per call.

    This is the decision itself; the simulator's hot loop calls it directly, :func:`allocate_into` from Python
    (so ``socbal allocate`` compiles nothing else).
    """
    n = soc_pct.shape[0]
    discharging = request_w > 0.0
    magnitude = abs(request_w)
    ac_stopped = (not discharging) and source == SOURCE_AC and total_soc_pct(soc_pct, capacity_wh) >= reserve_pct
    # Tiers are filled in ascending order (packs within a tier share by weight): AC-only charging by EMS 1.01.05 or
    # later fills the packs below the reserve first; the priority strategy fills the packs one by one.
    low_packs_first = (not discharging) and source == SOURCE_AC and ems_prioritises_low_packs
    by_priority = strategy == STRATEGY_PRIORITY
    weight_sum = 0.0  # the eligible packs' weights, added in pack order (as _water_fill adds them)
    if strategy == STRATEGY_SPEC:  # the default rule in a loop of its own: with the strategy known, LLVM divides 4 packs at once
        for i in range(n):
            use[i] = pack_weight(strategy, capacity_wh[i], soc_pct[i], reserve_pct, droop_exponent, discharging)
    for i in range(n):  # branch-free: each pack's reason is picked by selects, lowest precedence first
        limit[i] = max_discharge_w[i] if discharging else max_charge_w[i]
        code = REASON_NOT_NEEDED  # eligible: shares the request (or is not needed)
        if limit[i] <= 0.0 or capacity_wh[i] <= 0.0:
            code = REASON_NO_LIMIT
        if ac_stopped:
            code = REASON_AC_TARGET_REACHED
        if (not discharging) and soc_pct[i] >= FULL_SOC_PCT:
            code = REASON_FULL
        if discharging and reserve_latched_next(soc_pct[i], reserve_latched[i], reserve_pct, hysteresis_pct):
            code = REASON_AT_RESERVE
        if magnitude == 0.0:  # neither direction was asked for: no direction's reason applies
            code = REASON_IDLE
        power_w[i] = 0.0
        reason[i] = code
        eligible[i] = code == REASON_NOT_NEEDED
        if strategy == STRATEGY_SPEC:
            pack_w = use[i]
        elif eligible[i]:  # the other rules only where they apply (droop's power of a negative headroom is NaN)
            pack_w = pack_weight(strategy, capacity_wh[i], soc_pct[i], reserve_pct, droop_exponent, discharging)
        else:
            pack_w = 0.0
        weight[i] = pack_w if eligible[i] else 0.0
        weight_sum += weight[i]  # + 0.0 for an ineligible pack: the sum is exactly the eligible packs'
    served = 0.0
    if magnitude > 0.0 and not (low_packs_first or by_priority) and min_module_load_pct <= 0.0:  # the common case: one tier
        served = -1.0
        if magnitude > _EPS_W and weight_sum >= _TINY_WEIGHT_SUM:  # where water-filling would share weights unscaled
            served = _share_uncapped(magnitude / weight_sum, weight, limit, eligible, power_w, reason)  # often no pack caps
        if served < 0.0:
            served = _water_fill(magnitude, weight, limit, eligible, power_w, reason, active, use)
    elif magnitude > 0.0:
        served = _share_in_tiers(
            magnitude, min_module_load_pct, soc_pct, capacity_wh, priority_rank, reserve_pct, low_packs_first, by_priority,
            eligible, tier, weight, limit, member, power_w, reason, active, use,
        )  # fmt: skip
    if not discharging:
        for i in range(n):
            power_w[i] = -power_w[i]
    return served
