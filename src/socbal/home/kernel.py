"""The home decision as plain array code, compiled with Numba: the home's battery request -> W per device.

A home has one smart meter and several storage devices; each device balances its own packs
in its firmware and takes one setpoint. This module splits the home's battery request among
the devices. Like :mod:`socbal.ems.kernel` it is pure: no clock, no I/O, no globals besides
the integer codes and column indices below. The memory kept from one cycle to the next
(staging, hold and write timers, last written setpoint) is an explicit state matrix in and out.

Sign convention: device (battery) power > 0 discharges, < 0 charges; W, Wh, % SOC, s.

Inputs, one row per device (columns ``DEV_*``): believed usable energy above the device's
reserve judged on its weakest pack (``DEV_USABLE_WH``), room below full (``DEV_ROOM_WH``),
SOC, reserve, its limits now and its hardware rating per direction, its measured power, online,
circuit and its minimum write interval. State, one row per device (columns ``ST_*``): staged on, seconds since its staging
last changed, seconds since its last write, last written setpoint, last non-zero setpoint. Circuits: the most power,
per direction, the devices on each may move together (W). Settings: a vector (``HS_*``).

The helpers are compiled without reference counting and take their scratch from the caller, so they
never allocate; LLVM inlines them into the home loop (see :mod:`socbal.jit`). As a call of its own
:func:`decide_home_with_scratch` cut the loop's first-run compile by about 6 CPU s but made the loop
8-10 % slower (it runs at every meter reading), so it stays inlined.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from socbal.jit import compiled_only_kernel, inline_kernel

# Strategies: how the request is split among devices.
STRATEGY_SOCBAL = 0  # weights by usable energy (room for charging), staging, anticipated handover
STRATEGY_EQUAL = 1  # every eligible device the same share, all at once (baseline)
STRATEGY_SEQUENTIAL = 2  # one device at a time in SOC order, the next only when it stops (baseline)
STRATEGY_POWER_LIMIT_SOC = 3  # weight = rated power x SOC on the average SOC, staged (the most used peer integration)
STRATEGY_CODES = {
    "socbal": STRATEGY_SOCBAL,
    "equal": STRATEGY_EQUAL,
    "sequential": STRATEGY_SEQUENTIAL,
    "power-limit-soc": STRATEGY_POWER_LIMIT_SOC,
}

STAGING_AUTO = 0  # the fewest devices that keep each in its efficient range
STAGING_ALWAYS_SHARE = 1  # every eligible device shares
STAGING_CODES = {"auto": STAGING_AUTO, "always-share": STAGING_ALWAYS_SHARE}

# Device input columns.
DEV_USABLE_WH = 0  # believed energy above the reserve, judged on the weakest pack
DEV_ROOM_WH = 1  # room below full
DEV_SOC_PCT = 2  # the device's (average) SOC
DEV_RESERVE_PCT = 3  # its backup reserve
DEV_MAX_DISCHARGE_W = 4  # what it can discharge now (0 when it says it is empty)
DEV_MAX_CHARGE_W = 5  # what it can charge now
DEV_RATED_DISCHARGE_W = 6  # hardware rating: staging thresholds, power-limit-soc weights
DEV_RATED_CHARGE_W = 7
DEV_MEASURED_W = 8  # measured battery power, signed
DEV_ONLINE = 9  # 1 online, 0 not (excluded)
DEV_CIRCUIT = 10  # circuit index, -1 for none
DEV_MIN_WRITE_S = 11  # it is not written more often (pacing)
DEV_EFFICIENT_DISCHARGE_W = 12  # where its DC-DC modules are most efficient, W: socbal fills it this far before the next
DEV_EFFICIENT_CHARGE_W = 13
N_DEV = 14

# State columns (in and out).
ST_STAGED_ON = 0  # 1 staged on
ST_SINCE_STAGE_S = 1  # seconds since its staging state last changed
ST_SINCE_WRITE_S = 2  # seconds since its setpoint was last written
ST_LAST_W = 3  # last written setpoint, signed
ST_LAST_MOVING_W = 4  # the last non-zero setpoint, signed: the direction a device at 0 W last moved in
N_ST = 5

# Settings vector.
HS_STRATEGY = 0
HS_STAGING = 1
HS_STAGE_UP_PCT = 2  # stage another device on when the staged ones would run above this % of their rating
HS_STAGE_DOWN_PCT = 3  # stage one off when the rest could run below this % of their rating
HS_HOLD_S = 4  # a device staged on stays on at least this long
HS_SOC_LEAD_PCT = 5  # another device replaces a staged one only with this SOC lead (rotation)
HS_HANDOVER_LEAD_S = 6  # a device counts for staging only with energy for this long at its limit (socbal)
HS_DEADBAND_W = 7  # changes up to this are not written
HS_RAMP_W_PER_S = 8  # a setpoint grows at most this fast (0: no limit)
HS_FOLLOW_S = 9  # after this long since its write a device is expected to deliver its setpoint (socbal)
HS_FOLLOW_TOL_W = 10  # ... within this
N_HS = 11

# Why a device got the setpoint it got (see ``REASON_TEXT``).
REASON_SHARE = 0
REASON_CAPPED_DEVICE = 1
REASON_CAPPED_CIRCUIT = 2
REASON_AT_RESERVE = 3
REASON_FULL = 4
REASON_STAGED_OFF = 5
REASON_EXCLUDED = 6
REASON_HELD = 7
REASON_RAMPING = 8
REASON_NOT_FOLLOWING = 9
REASON_IDLE = 10
REASON_WAITING = 11
REASON_INTERLOCK = 12
REASON_STANDING_BY = 13
REASON_HANDING_OVER = 14
REASON_TEXT = {
    REASON_SHARE: "share by weight",
    REASON_CAPPED_DEVICE: "capped by the device's limit",
    REASON_CAPPED_CIRCUIT: "capped by its circuit's limit",
    REASON_AT_RESERVE: "at its reserve: its weakest pack has no usable energy, or the device says it is empty",
    REASON_FULL: "full: no room, or the device takes no charge",
    REASON_STAGED_OFF: "staged off: the others run in their efficient range",
    REASON_EXCLUDED: "excluded: offline",
    REASON_HELD: "held by pacing: its last setpoint stays (write interval or deadband)",
    REASON_RAMPING: "ramping in: capped by the ramp limit, the others cover the rest",
    REASON_NOT_FOLLOWING: "not following its setpoint yet: counted at what it delivers, the others cover the rest",
    REASON_IDLE: "idle: nothing requested (0 W)",
    REASON_WAITING: "waiting: sequential runs one device at a time",
    REASON_INTERLOCK: "direction change: every device goes to 0 W before any is commanded the other way",
    REASON_STANDING_BY: "standing by: staged on, the devices before it in the fill order cover the request at a good load",
    REASON_HANDING_OVER: "handing over: less than handover_lead_s of energy (room) left at its share; the next device takes it",
}

_EPS_W = 1e-9
#: Seconds that stand for "never" in the timers.
NEVER_S = 1e12


@compiled_only_kernel
def _water_fill_circuits(
    request_w: float,
    weight: np.ndarray,
    limit_w: np.ndarray,
    member: np.ndarray,
    circuit: np.ndarray,
    circuit_room_w: np.ndarray,
    power_w: np.ndarray,
    reason: np.ndarray,
    active: np.ndarray,
    use: np.ndarray,
    circuit_weight: np.ndarray,
) -> float:
    """Share ``request_w`` among ``member`` devices by ``weight``, within each device's ``limit_w`` and each
    circuit's ``circuit_room_w`` (which it reduces by what it gives); the power given, W.

    Progressive filling: the constraint that binds at the lowest water level (a device's limit or a
    circuit's room) is fixed first and the rest is shared among the others. Magnitudes only; every member
    gets a value in ``power_w`` and a reason. ``active``, ``use``, ``circuit_weight`` are scratch.
    """
    m = weight.shape[0]
    n_circuits = circuit_room_w.shape[0]
    remaining = request_w
    weight_sum = 0.0
    any_member = False
    for i in range(m):
        active[i] = member[i]
        if member[i]:
            power_w[i] = 0.0
            reason[i] = REASON_SHARE
            weight_sum += weight[i]
            any_member = True
    if not any_member:  # nothing to share (the common case in the fills after a pacing hold)
        return 0.0
    for i in range(m):
        use[i] = weight[i] if weight_sum > 0.0 else limit_w[i]  # all weights zero: share by limit
    for _ in range(m + n_circuits + 1):
        weight_sum = 0.0
        for i in range(m):
            if active[i]:
                weight_sum += use[i]
        if remaining <= _EPS_W or weight_sum <= 0.0:
            break
        level = remaining / weight_sum
        bind = level
        bind_device = -1
        bind_circuit = -1
        for i in range(m):
            if active[i] and use[i] > 0.0 and limit_w[i] < bind * use[i]:
                bind = limit_w[i] / use[i]
                bind_device = i
        for c in range(n_circuits):
            circuit_weight[c] = 0.0
        for i in range(m):
            if active[i] and circuit[i] >= 0:
                circuit_weight[circuit[i]] += use[i]
        for c in range(n_circuits):
            if circuit_weight[c] > 0.0 and max(circuit_room_w[c], 0.0) < bind * circuit_weight[c]:
                bind = max(circuit_room_w[c], 0.0) / circuit_weight[c]
                bind_circuit = c
                bind_device = -1
        if bind_circuit >= 0:
            for i in range(m):
                if active[i] and circuit[i] == bind_circuit:
                    power_w[i] = bind * use[i]
                    reason[i] = REASON_CAPPED_CIRCUIT
                    remaining -= power_w[i]
                    active[i] = False
            circuit_room_w[bind_circuit] = 0.0
        elif bind_device >= 0:
            power_w[bind_device] = limit_w[bind_device]
            reason[bind_device] = REASON_CAPPED_DEVICE
            remaining -= limit_w[bind_device]
            active[bind_device] = False
            if circuit[bind_device] >= 0:
                circuit_room_w[circuit[bind_device]] -= limit_w[bind_device]
        else:  # nothing binds: each its level's share; the last one what is left, so the shares add up exactly
            last = -1
            for i in range(m):
                if active[i]:
                    last = i
            for i in range(m):
                if active[i]:
                    power_w[i] = level * use[i] if i != last else min(max(remaining, 0.0), limit_w[i])
                    remaining -= power_w[i]
                    if circuit[i] >= 0:
                        circuit_room_w[circuit[i]] -= power_w[i]
            break
    given = 0.0
    for i in range(m):
        if member[i]:
            given += power_w[i]
    return given


@compiled_only_kernel
def _fill_afresh(
    request_w: float,
    circuit_saved_w: np.ndarray,
    weight: np.ndarray,
    limit_w: np.ndarray,
    circuit: np.ndarray,
    circuit_room_w: np.ndarray,
    power_w: np.ndarray,
    reason: np.ndarray,
    flags: np.ndarray,
    work: np.ndarray,
    order: np.ndarray,
    n_fill: int,
    circuit_weight: np.ndarray,
    settings: np.ndarray,
    may_join: bool,
) -> float:
    """Share ``request_w`` among the member devices (``flags[1]``) with the circuits' room reset to ``circuit_saved_w``
    first; if that leaves part of it unserved and ``may_join``, every staged-off device joins (:func:`_join_staged_off`)
    and the share is made again. The power given, W.

    ``n_fill`` = 0: water-filling by ``weight`` (:func:`_water_fill_circuits`). Otherwise (socbal, auto staging) the
    plan of :func:`_plan_fill`: the members are filled in the order of ``order[:n_fill]``, each up to its fill level
    (``work[5]``, where its modules run efficiently) before the next gets power; what is left is water-filled by
    weight up to the limits among the members not running out, and only then among those that are (``flags[5]``).
    Scratch: ``flags[2]``, ``flags[6]``, ``work[0]``, ``work[6]``, ``work[7]``.
    """
    member = flags[1]
    active = flags[2]
    running_out = flags[5]
    tier = flags[6]
    use = work[0]
    level_w = work[5]
    first_w = work[6]
    spare_w = work[7]
    given = 0.0
    for attempt in range(2):
        if attempt == 1 and not (
            may_join and given < request_w - _EPS_W and _join_staged_off(settings, flags[0], flags[4], flags[3], member)
        ):
            break
        for c in range(circuit_saved_w.shape[0]):
            circuit_room_w[c] = circuit_saved_w[c]
        given = 0.0
        for i in range(member.shape[0]):
            if member[i]:
                break
        else:  # no member: nothing given (a staged-off device may still join)
            continue
        if n_fill == 0:
            given = _water_fill_circuits(
                request_w, weight, limit_w, member, circuit, circuit_room_w, power_w, reason, active, use, circuit_weight
            )
            continue
        remaining = request_w
        for i in range(member.shape[0]):
            first_w[i] = 0.0
        for j in range(n_fill):  # in order, each to its fill level
            i = order[j]
            if not member[i]:
                continue
            give = max(min(remaining, level_w[i], limit_w[i]), 0.0)
            if circuit[i] >= 0:
                give = min(give, max(circuit_room_w[circuit[i]], 0.0))
                circuit_room_w[circuit[i]] -= give
            first_w[i] = give
            remaining -= give
        for i in range(member.shape[0]):
            spare_w[i] = max(limit_w[i] - first_w[i], 0.0)
        for out in range(2):  # the rest by weight: first the devices not running out, then those that are
            for i in range(member.shape[0]):
                tier[i] = member[i] and running_out[i] == (out == 1)
            remaining -= _water_fill_circuits(
                remaining, weight, spare_w, tier, circuit, circuit_room_w, power_w, reason, active, use, circuit_weight
            )
        given = 0.0
        for i in range(member.shape[0]):
            if not member[i]:
                continue
            if power_w[i] <= _EPS_W:  # nothing from the rest: the reason is that of its fill
                power_w[i] = 0.0
                if first_w[i] <= 0.0:
                    reason[i] = REASON_HANDING_OVER if running_out[i] else REASON_STANDING_BY
                elif first_w[i] >= limit_w[i] - _EPS_W:
                    reason[i] = REASON_CAPPED_DEVICE
                elif remaining > _EPS_W and circuit[i] >= 0 and circuit_room_w[circuit[i]] <= _EPS_W:
                    reason[i] = REASON_CAPPED_CIRCUIT
                else:
                    reason[i] = REASON_SHARE
            power_w[i] += first_w[i]
            given += power_w[i]
    return given


@compiled_only_kernel
def _plan_fill(
    dev: np.ndarray,
    state: np.ndarray,
    settings: np.ndarray,
    discharging: bool,
    demand: float,
    eligible: np.ndarray,
    limit_w: np.ndarray,
    key: np.ndarray,
    order: np.ndarray,
    level_w: np.ndarray,
    running_out: np.ndarray,
) -> int:
    """socbal with auto staging: the order in which the eligible devices are filled (``order``; their number
    returned, or 0 when none has a fill level nor runs out, so the request is water-filled by weight alone)
    and how far each is filled before the next gets power (``level_w``, W: where its DC-DC modules are most efficient,
    within its rating and its limit now). Overwrites ``key``.

    Order: by SOC (``key``: SOC discharging, 100 - SOC charging); the device carrying the most in this direction keeps
    its place until another leads it by ``soc_lead_pct`` (so the devices take turns and their SOCs meet over time,
    without swapping at every crossing). A device *running out* (socbal's handover: its energy above the reserve,
    or its room, lasts less than ``handover_lead_s`` at the share it would get, ``min(level, demand)``, its limit
    for the level where its efficiency is unknown) comes last
    with level 0: it gets only what the others cannot serve, so the next device is given the whole share and starts
    while this one still has energy.
    """
    lead = -1
    lead_w = 0.0
    for i in range(dev.shape[0]):
        carried = state[i, ST_LAST_W] if discharging else -state[i, ST_LAST_W]
        if eligible[i] and carried > lead_w:
            lead, lead_w = i, carried
    n: int = np.int64(0)  # type: ignore[assignment]  # not a literal 0: the sort below would compile for it as well
    planned = False
    for i in range(dev.shape[0]):
        running_out[i] = False
        level_w[i] = 0.0
        if not eligible[i]:
            continue
        if discharging:
            efficient, rated, energy = dev[i, DEV_EFFICIENT_DISCHARGE_W], dev[i, DEV_RATED_DISCHARGE_W], dev[i, DEV_USABLE_WH]
        else:
            efficient, rated, energy = dev[i, DEV_EFFICIENT_CHARGE_W], dev[i, DEV_RATED_CHARGE_W], dev[i, DEV_ROOM_WH]
        level_w[i] = max(min(efficient, rated, limit_w[i]), 0.0)
        share = min(level_w[i] if level_w[i] > 0.0 else limit_w[i], demand)  # efficiency unknown: at most its limit
        lead_s = settings[HS_HANDOVER_LEAD_S]
        running_out[i] = lead_s > 0.0 and share > _EPS_W and energy * 3600.0 < share * lead_s
        if running_out[i]:
            level_w[i] = 0.0
        key[i] += (settings[HS_SOC_LEAD_PCT] if i == lead else 0.0) - (1000.0 if running_out[i] else 0.0)
        order[n] = i
        n += 1
        planned = planned or level_w[i] > 0.0 or running_out[i]
    _sort_by_key_descending(order, n, key)
    return n if planned else 0  # no fill level (efficient power 0) and nobody running out: shared by weight alone


@compiled_only_kernel
def _devices_needed(demand_w: float, share: float, order: np.ndarray, n_order: int, capacity_w: np.ndarray) -> int:
    """The fewest devices, taken in ``order``, that serve ``demand_w`` each at ``share`` of its capacity;
    ``n_order`` when even all of them cannot."""
    total = 0.0
    for j in range(n_order):
        if total >= demand_w - _EPS_W:
            return j
        total += share * capacity_w[order[j]]
    return n_order


@compiled_only_kernel
def _sort_by_key_descending(order: np.ndarray, n_order: int, key: np.ndarray) -> None:
    """Insertion sort of ``order[:n_order]`` by ``key`` (largest first; stable, so input order breaks ties)."""
    for j in range(1, n_order):
        item = order[j]
        k = j - 1
        while k >= 0 and key[order[k]] < key[item]:
            order[k + 1] = order[k]
            k -= 1
        order[k + 1] = item


@compiled_only_kernel
def _lagging(dev: np.ndarray, state: np.ndarray, settings: np.ndarray, discharging: bool, i: int) -> bool:
    """socbal: whether staged device ``i`` has had ``follow_s`` to deliver its last setpoint and still delivers
    less (by more than the tolerance)."""
    last = state[i, ST_LAST_W]
    measured = dev[i, DEV_MEASURED_W] if discharging else -dev[i, DEV_MEASURED_W]
    return (
        state[i, ST_STAGED_ON] > 0.5
        and last != 0.0
        and (last > 0.0) == discharging
        and state[i, ST_SINCE_WRITE_S] >= settings[HS_FOLLOW_S]
        and max(measured, 0.0) < abs(last) - settings[HS_FOLLOW_TOL_W]
    )


@compiled_only_kernel
def _staging_capacity_w(dev: np.ndarray, settings: np.ndarray, discharging: bool, i: int, limit_w: float, lagging: bool) -> float:
    """What eligible device ``i`` counts for in auto staging, W: its rating within its limit this cycle (and, socbal,
    the power its energy sustains for ``handover_lead_s``; a device not following counts for what it delivers)."""
    rated = dev[i, DEV_RATED_DISCHARGE_W] if discharging else dev[i, DEV_RATED_CHARGE_W]
    capacity_w = min(rated, limit_w)
    if int(settings[HS_STRATEGY]) == STRATEGY_SOCBAL:
        if settings[HS_HANDOVER_LEAD_S] > 0.0:
            energy = dev[i, DEV_USABLE_WH] if discharging else dev[i, DEV_ROOM_WH]
            capacity_w = min(capacity_w, energy * 3600.0 / settings[HS_HANDOVER_LEAD_S])
        if lagging:
            measured = dev[i, DEV_MEASURED_W] if discharging else -dev[i, DEV_MEASURED_W]
            capacity_w = min(capacity_w, max(measured, 0.0))
    return capacity_w


@compiled_only_kernel
def _eligibility(
    dev: np.ndarray,
    state: np.ndarray,
    settings: np.ndarray,
    discharging: bool,
    cycle_s: float,
    eligible: np.ndarray,
    weight: np.ndarray,
    limit_w: np.ndarray,
    own_limit: np.ndarray,
    key: np.ndarray,
    reason: np.ndarray,
    order: np.ndarray,
    lagging: np.ndarray,
    rank_key: np.ndarray,
    capacity_w: np.ndarray,
) -> int:
    """Who may take part (online, energy or room, a limit in the request's direction), their weights, limits
    (own, and within the ramp) and SOC keys (higher = served first); the eligible ones listed in ``order``,
    their number returned. In the same pass, per eligible device: (socbal) whether it lags its setpoint
    (:func:`_lagging`), and for auto staging its rank (its SOC key, with ``soc_lead_pct`` while staged on) and what
    it counts for (:func:`_staging_capacity_w`)."""
    strategy = int(settings[HS_STRATEGY])
    ramp = settings[HS_RAMP_W_PER_S]
    n_eligible = 0
    for i in range(dev.shape[0]):
        rated = dev[i, DEV_RATED_DISCHARGE_W] if discharging else dev[i, DEV_RATED_CHARGE_W]
        limit_w[i] = dev[i, DEV_MAX_DISCHARGE_W] if discharging else dev[i, DEV_MAX_CHARGE_W]
        soc = dev[i, DEV_SOC_PCT]
        key[i] = soc if discharging else 100.0 - soc
        eligible[i] = False
        lagging[i] = False
        weight[i] = 0.0
        reason[i] = REASON_IDLE
        if dev[i, DEV_ONLINE] < 0.5:
            reason[i] = REASON_EXCLUDED
        elif strategy == STRATEGY_POWER_LIMIT_SOC:  # as peers do: rated power, the average SOC against the reserve
            limit_w[i] = rated
            if discharging and (soc <= dev[i, DEV_RESERVE_PCT] or rated <= 0.0):
                reason[i] = REASON_AT_RESERVE
            elif not discharging and (soc >= 100.0 or rated <= 0.0):
                reason[i] = REASON_FULL
            else:
                eligible[i] = True
                weight[i] = rated * key[i]
        elif discharging and (dev[i, DEV_USABLE_WH] <= 0.0 or limit_w[i] <= 0.0):
            reason[i] = REASON_AT_RESERVE
        elif not discharging and (dev[i, DEV_ROOM_WH] <= 0.0 or limit_w[i] <= 0.0):
            reason[i] = REASON_FULL
        else:
            eligible[i] = True
            if strategy == STRATEGY_EQUAL or strategy == STRATEGY_SEQUENTIAL:
                weight[i] = 1.0
            else:
                weight[i] = dev[i, DEV_USABLE_WH] if discharging else dev[i, DEV_ROOM_WH]
        own_limit[i] = limit_w[i]
        if not eligible[i]:
            continue
        if ramp > 0.0:  # a setpoint grows from its last value in this direction by ramp x cycle
            last = state[i, ST_LAST_W]
            base = abs(last) if last != 0.0 and (last > 0.0) == discharging else 0.0
            limit_w[i] = min(limit_w[i], base + ramp * cycle_s)
        if strategy == STRATEGY_SOCBAL:
            lagging[i] = _lagging(dev, state, settings, discharging, i)
        rank_key[i] = key[i] + (settings[HS_SOC_LEAD_PCT] if state[i, ST_STAGED_ON] > 0.5 else 0.0)
        capacity_w[i] = _staging_capacity_w(dev, settings, discharging, i, limit_w[i], lagging[i])
        order[n_eligible] = i
        n_eligible += 1
    return n_eligible


@compiled_only_kernel
def _stage(
    dev: np.ndarray,
    state: np.ndarray,
    settings: np.ndarray,
    discharging: bool,
    demand: float,
    n_eligible: int,
    order: np.ndarray,
    key: np.ndarray,
    member: np.ndarray,
    rank_key: np.ndarray,
    capacity_w: np.ndarray,
) -> None:
    """Which eligible devices run (``member``), from their SOC ``key`` and, for auto staging, their ``rank_key`` and
    ``capacity_w`` (W) as :func:`_eligibility` gives them.

    ``auto``: the fewest devices, in the order of ``rank_key`` (their SOC; a staged one keeps its place unless another
    leads it by ``soc_lead_pct``), that serve the demand at ``stage_up_pct`` of what each counts for
    (:func:`_staging_capacity_w`); more devices stay until they would run below ``stage_down_pct``. One is staged off
    only after its hold and only while the others already cover the demand.
    """
    strategy = int(settings[HS_STRATEGY])
    m = dev.shape[0]
    for i in range(m):
        member[i] = False
    if strategy == STRATEGY_SEQUENTIAL:  # one at a time: the running one until it stops, then the next in SOC order
        current = -1
        for j in range(n_eligible):
            i = order[j]
            if state[i, ST_STAGED_ON] > 0.5 and (current < 0 or key[i] > key[current]):
                current = i
        if current < 0 and n_eligible > 0:
            _sort_by_key_descending(order, n_eligible, key)
            current = order[0]
        if current >= 0:
            member[current] = True
        return
    if strategy == STRATEGY_EQUAL or int(settings[HS_STAGING]) == STAGING_ALWAYS_SHARE:
        for j in range(n_eligible):
            member[order[j]] = True
        return
    _sort_by_key_descending(order, n_eligible, rank_key)
    n_on = 0
    for j in range(n_eligible):
        if state[order[j], ST_STAGED_ON] > 0.5:
            n_on += 1
    k_up = _devices_needed(demand, settings[HS_STAGE_UP_PCT] / 100.0, order, n_eligible, capacity_w)
    k_down = _devices_needed(demand, settings[HS_STAGE_DOWN_PCT] / 100.0, order, n_eligible, capacity_w)
    target = min(max(n_on, k_up), k_down)
    if demand > _EPS_W:
        target = max(target, min(1, n_eligible))
    for j in range(n_eligible):
        i = order[j]
        member[i] = j < target or state[i, ST_STAGED_ON] > 0.5
    for j in range(n_eligible - 1, target - 1, -1):  # the last in the order leaves first
        i = order[j]
        if not member[i] or state[i, ST_SINCE_STAGE_S] < settings[HS_HOLD_S]:
            continue
        others_w = 0.0
        for jj in range(n_eligible):
            if member[order[jj]] and order[jj] != i:
                others_w += capacity_w[order[jj]]
        if others_w >= demand - _EPS_W:
            member[i] = False


@compiled_only_kernel
def _moving_the_other_way(dev: np.ndarray, state: np.ndarray, settings: np.ndarray, discharging: bool) -> bool:
    """socbal's direction-change interlock: whether some online device may still move its batteries against the
    request's direction: its last setpoint points that way, it is measured that way beyond ``follow_tolerance_w``,
    or it was stopped from that way less than ``follow_s`` ago (its stop may not have taken effect yet)."""
    sign = -1.0 if discharging else 1.0  # > 0 after this: the old direction
    for i in range(dev.shape[0]):
        if dev[i, DEV_ONLINE] < 0.5:
            continue
        last = sign * state[i, ST_LAST_W]
        if last > 0.0 or sign * dev[i, DEV_MEASURED_W] > settings[HS_FOLLOW_TOL_W]:
            return True
        if last == 0.0 and sign * state[i, ST_LAST_MOVING_W] > 0.0 and state[i, ST_SINCE_WRITE_S] < settings[HS_FOLLOW_S]:
            return True
    return False


@compiled_only_kernel
def _join_staged_off(
    settings: np.ndarray, eligible: np.ndarray, lagging: np.ndarray, held: np.ndarray, member: np.ndarray
) -> bool:
    """Every eligible device that is not running, counted at what it delivers or held joins (not for
    ``sequential``); whether any did."""
    if int(settings[HS_STRATEGY]) == STRATEGY_SEQUENTIAL:
        return False
    joined = False
    for i in range(member.shape[0]):
        if eligible[i] and not member[i] and not lagging[i] and not held[i]:
            member[i] = True
            joined = True
    return joined


@inline_kernel
def decide_home_with_scratch(
    dev: np.ndarray,
    state: np.ndarray,
    circuit_max_discharge_w: np.ndarray,
    circuit_max_charge_w: np.ndarray,
    settings: np.ndarray,
    request_w: float,
    cycle_s: float,
    power_w: np.ndarray,
    reason: np.ndarray,
    weight: np.ndarray,
    limit_w: np.ndarray,
    credited_w: np.ndarray,
    state_out: np.ndarray,
    flags: np.ndarray,
    work: np.ndarray,
    order: np.ndarray,
    circuit: np.ndarray,
    circuit_work: np.ndarray,
) -> float:
    """Split the home's battery request ``request_w`` (+ discharge, - charge, W) among the devices.

    ``cycle_s`` is the time since the previous decision (for the ramp limit). Writes per device:
    ``power_w`` (the setpoint, signed), ``reason`` (``REASON_*``), ``weight`` (its weight, 0 when not
    sharing), ``limit_w`` (the most it could get this cycle: device, ramp), ``credited_w`` (what of it
    counts as served: its setpoint, or what it delivers while not following yet; magnitude) and
    ``state_out`` (the state for the next decision; the caller adds the elapsed time to the timers).
    Returns the power served (W, magnitude, sum of ``credited_w``); never more than ``abs(request_w)``.

    socbal first applies the direction-change interlock: while some online device may still move against the
    request (:func:`_moving_the_other_way`), every device is commanded 0 W and nothing is served.

    Steps: eligibility and limits; staging; (socbal) devices not following are counted at what they
    deliver; water-filling among the running devices against device and circuit limits; if demand is
    left that a staged-off device could serve, every eligible device joins; pacing (a device inside its
    write interval, or whose new share is within the deadband of its last setpoint, keeps that setpoint
    and the others share the rest, unless that would over-serve, overload a circuit or leave demand
    unserved); one direction for every device.

    Scratch from the caller (see :func:`home_scratch`): ``flags`` (bool, 7 x devices), ``work``
    (float, 9 x devices), ``order`` and ``circuit`` (int, devices), ``circuit_work`` (float, 4 x circuits).
    Circuit indices in ``dev`` must be below the circuits' count.
    """
    m = dev.shape[0]
    socbal = int(settings[HS_STRATEGY]) == STRATEGY_SOCBAL
    discharging = request_w > 0.0
    demand = abs(request_w)
    eligible = flags[0]
    member = flags[1]
    held = flags[3]
    lagging = flags[4]
    use = work[0]
    key = work[1]
    fresh = work[2]
    own_limit = work[3]
    paced = work[4]
    circuit_room = circuit_work[0]
    circuit_saved = circuit_work[1]
    circuit_fill = circuit_work[2]
    circuit_paced = circuit_work[3]
    n_circuits = circuit_max_discharge_w.shape[0]
    for i in range(m):
        circuit[i] = int(dev[i, DEV_CIRCUIT])
        for col in range(N_ST):
            state_out[i, col] = state[i, col]
        power_w[i] = 0.0
        credited_w[i] = 0.0
        held[i] = False

    if socbal and _moving_the_other_way(dev, state, settings, discharging):
        for i in range(m):
            reason[i] = REASON_EXCLUDED if dev[i, DEV_ONLINE] < 0.5 else REASON_INTERLOCK if demand > _EPS_W else REASON_IDLE
            weight[i] = 0.0
            limit_w[i] = 0.0
            if state[i, ST_LAST_W] != 0.0:
                state_out[i, ST_LAST_MOVING_W] = state[i, ST_LAST_W]
                state_out[i, ST_LAST_W] = 0.0
                state_out[i, ST_SINCE_WRITE_S] = 0.0
        return 0.0

    n_eligible = _eligibility(
        dev, state, settings, discharging, cycle_s, eligible, weight, limit_w, own_limit, key, reason, order, lagging,
        use, fresh,
    )  # fmt: skip
    _stage(dev, state, settings, discharging, demand, n_eligible, order, key, member, use, fresh)
    n_fill = 0
    if socbal and int(settings[HS_STAGING]) == STAGING_AUTO:
        n_fill = _plan_fill(dev, state, settings, discharging, demand, eligible, limit_w, key, order, work[5], flags[5])

    # Devices not following (socbal): counted at what they deliver, asked for at most a ramp step more.
    fixed_w = 0.0
    for c in range(n_circuits):
        circuit_room[c] = circuit_max_discharge_w[c] if discharging else circuit_max_charge_w[c]
    for i in range(m):
        if lagging[i] and member[i]:
            member[i] = False
            measured = max(dev[i, DEV_MEASURED_W] if discharging else -dev[i, DEV_MEASURED_W], 0.0)
            # Its setpoint stays (no rewrite while it catches up) unless its limit or the demand is lower now.
            power_w[i] = min(abs(state[i, ST_LAST_W]), limit_w[i], max(demand - fixed_w, 0.0))
            if circuit[i] >= 0:
                power_w[i] = min(power_w[i], max(circuit_room[circuit[i]], 0.0))
                circuit_room[circuit[i]] -= power_w[i]
            credited_w[i] = min(measured, power_w[i])
            fixed_w += credited_w[i]
            reason[i] = REASON_NOT_FOLLOWING
        else:
            lagging[i] = False
    for c in range(n_circuits):
        circuit_saved[c] = circuit_room[c]

    # Water-filling (phase 0; a staged-off device joins when the running ones leave demand unserved), then pacing
    # (phases 1 and 2). A device inside its minimum write interval keeps its last setpoint; so does one whose new share
    # is within the deadband of it (what that leaves unserved is at most the deadband per device so held). The others
    # share the rest. Always written: from or to standby, direction changes, setpoints beyond the limit now, and held
    # setpoints that would exceed the demand or a circuit's limit. The three fills are one call of _fill_afresh in a
    # loop, not three: inlined, each call site is a copy of its machine code (~4,500 instructions), cold in the
    # instruction cache when the pacing fill runs after the first.
    remaining_w = demand - fixed_w
    unpaced_w = 0.0
    unpaced_reason = work[8]  # the reasons of the water-filling's shares, kept for when no hold stands
    held_w = 0.0
    allowance_w = 0.0  # what the deadband holds may leave unserved: the deadband per device held by it
    given = 0.0
    keep = False
    for phase in range(3):  # 0: water-filling, 1: interval and deadband holds, 2: interval holds only
        if phase > 0:
            held_w = 0.0
            any_held = False
            allowance_w = 0.0
            for i in range(m):
                last = state[i, ST_LAST_W]
                held[i] = False
                if not member[i] or last == 0.0 or (last > 0.0) != discharging or abs(last) > limit_w[i] + _EPS_W:
                    continue
                if state[i, ST_SINCE_WRITE_S] < dev[i, DEV_MIN_WRITE_S]:
                    held[i] = True
                elif phase == 1 and abs(fresh[i] - abs(last)) <= settings[HS_DEADBAND_W]:
                    held[i] = True
                    allowance_w += settings[HS_DEADBAND_W]
                if held[i]:
                    any_held = True
                    held_w += abs(last)
            keep = any_held and demand > _EPS_W and held_w <= remaining_w + _EPS_W
            if keep:  # the circuits' room left by the fixed and held devices
                for c in range(n_circuits):
                    circuit_paced[c] = circuit_saved[c]
                for i in range(m):
                    if held[i] and circuit[i] >= 0:
                        circuit_paced[circuit[i]] -= abs(state[i, ST_LAST_W])
                for c in range(n_circuits):
                    keep = keep and circuit_paced[c] >= -_EPS_W
            if not keep:
                continue
            for i in range(m):
                member[i] = member[i] and not held[i]
        # phase 0: into fresh (work[2]) from the room the fixed devices left (circuit_work[1]); a paced fill: into
        # paced (work[4]) from the room the held devices left as well (circuit_work[3]).
        filled_w = _fill_afresh(
            remaining_w - held_w, circuit_work[1 if phase == 0 else 3], weight, limit_w, circuit, circuit_room,
            work[2 if phase == 0 else 4], reason, flags, work, order, n_fill, circuit_fill, settings, phase != 1,
        )  # fmt: skip
        if phase == 0:
            unpaced_w = filled_w
            for i in range(m):
                unpaced_reason[i] = reason[i]
            continue
        keep = phase == 2 or filled_w + held_w >= unpaced_w - allowance_w - _EPS_W
        for i in range(m):
            if held[i]:
                member[i] = True
        if keep:
            for i in range(m):
                if held[i]:
                    fresh[i] = abs(state[i, ST_LAST_W])
                    reason[i] = REASON_HELD
                elif member[i]:
                    fresh[i] = paced[i]
            given = filled_w + held_w
            break
    if not keep:  # no hold: the shares of the water-filling above (``fresh``, untouched since), reasons included
        for i in range(m):
            held[i] = False
            reason[i] = int(unpaced_reason[i])
        given = unpaced_w

    # Setpoints, reasons, signs and the state out.
    served = fixed_w + given
    for i in range(m):
        if member[i]:
            power_w[i] = fresh[i]
            credited_w[i] = fresh[i]
            if reason[i] == REASON_CAPPED_DEVICE and fresh[i] < own_limit[i] - _EPS_W:
                reason[i] = REASON_RAMPING
            if fresh[i] <= 0.0 and reason[i] == REASON_SHARE:
                reason[i] = REASON_IDLE
        elif eligible[i] and not lagging[i]:
            reason[i] = REASON_WAITING if int(settings[HS_STRATEGY]) == STRATEGY_SEQUENTIAL else REASON_STAGED_OFF
        if demand <= _EPS_W and dev[i, DEV_ONLINE] > 0.5 and not lagging[i]:  # no direction asked for: none's reason applies
            reason[i] = REASON_IDLE
        if not member[i] or held[i]:
            weight[i] = 0.0
        if eligible[i]:
            on = member[i] or lagging[i]
        else:  # an ineligible device is staged off, except that with no request the staging is kept
            on = demand <= _EPS_W and dev[i, DEV_ONLINE] > 0.5 and state[i, ST_STAGED_ON] > 0.5
        if on != (state[i, ST_STAGED_ON] > 0.5):
            state_out[i, ST_STAGED_ON] = 1.0 if on else 0.0
            state_out[i, ST_SINCE_STAGE_S] = 0.0
        signed = power_w[i] if discharging else -power_w[i]
        power_w[i] = signed + 0.0
        if signed != state[i, ST_LAST_W]:
            state_out[i, ST_LAST_MOVING_W] = signed if signed != 0.0 else state[i, ST_LAST_W]
            state_out[i, ST_LAST_W] = signed
            state_out[i, ST_SINCE_WRITE_S] = 0.0
    return served


@njit(cache=True)
def home_scratch(n_devices: int, n_circuits: int):
    """Scratch for :func:`decide_home_with_scratch`: ``flags, work, order, circuit, circuit_work``."""
    return (
        np.zeros((7, n_devices), dtype=np.bool_),
        np.zeros((9, n_devices)),
        np.zeros(n_devices, dtype=np.int64),
        np.zeros(n_devices, dtype=np.int64),
        np.zeros((4, n_circuits)),
    )


@compiled_only_kernel
def stop_every_device(state: np.ndarray, state_out: np.ndarray) -> None:
    """The fail-safe of a stale meter: every device's setpoint 0 W (written where it was not); staging and the
    other memory kept, so the interlock still knows the direction each one stopped from."""
    for i in range(state.shape[0]):
        for col in range(N_ST):
            state_out[i, col] = state[i, col]
        if state[i, ST_LAST_W] != 0.0:
            state_out[i, ST_LAST_MOVING_W] = state[i, ST_LAST_W]
            state_out[i, ST_LAST_W] = 0.0
            state_out[i, ST_SINCE_WRITE_S] = 0.0


@compiled_only_kernel
def advance_timers(state: np.ndarray, elapsed_s: float) -> None:
    """Add ``elapsed_s`` to every device's staging and write timers (in place), before the next decision."""
    for i in range(state.shape[0]):
        state[i, ST_SINCE_STAGE_S] += elapsed_s
        state[i, ST_SINCE_WRITE_S] += elapsed_s
