"""Packs in one series string (no DC-DC): one current through all, the weakest pack limits the string.

The string is one source: EMF = sum OCV_i, resistance = sum R_i; a power load
P draws the smaller root of R I^2 - E I + P = 0. The same current flows through
every pack, so the string stops discharging as soon as any pack is empty and
stops charging as soon as any pack is full, whatever charge the others still
hold or could take. A step is cut where the first pack reaches its bound, so
it lands exactly there. A current above any pack's ``max_current_a`` trips
that pack's BMS, which opens the string for the rest of the run.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from numba import njit
from numpy.typing import ArrayLike

from socbal.topology._circuit import advance_soc, terminal_current_a, time_to_bound_s
from socbal.topology._runner import simulate
from socbal.topology.pack_electrical import PackElectrical
from socbal.topology.result import PACK_EMPTY, PACK_FULL, PACK_ON_BUS, PACK_TRIPPED, TopologyResult


@njit(cache=True)
def _string_current_a(load, is_power, emf_v, r_ohm, max_a, soc_pct, state):
    """String current in A for one moment; 0 when a pack blocks that direction or has tripped. Fills ``state``."""
    n = soc_pct.shape[0]
    tripped = False
    for i in range(n):
        if state[i] == PACK_TRIPPED:
            tripped = True
        else:
            state[i] = PACK_ON_BUS
    if tripped:
        return 0.0
    current_a = terminal_current_a(load, emf_v, r_ohm) if is_power else load
    blocked = False
    for i in range(n):
        if soc_pct[i] <= 0.0 and current_a > 0.0:
            state[i] = PACK_EMPTY
            blocked = True
        elif soc_pct[i] >= 100.0 and current_a < 0.0:
            state[i] = PACK_FULL
            blocked = True
    if blocked:
        return 0.0
    for i in range(n):
        if abs(current_a) > max_a[i]:
            state[i] = PACK_TRIPPED
            blocked = True
    return 0.0 if blocked else current_a


@njit(cache=True)
def _kernel(
    load, is_power, step_s, soc0_pct, capacity_as, r_ohm, max_a, grid_pct, ocv_table_v, max_substeps,
    soc_out, current_out, voltage_out, terminal_out, served_out, circulating_out, loss_out, state_out,
):  # fmt: skip
    """Step the string through ``load`` (W or A per step); same arguments and return as ``parallel._kernel``."""
    n_steps = load.shape[0]
    n = soc0_pct.shape[0]
    soc = soc0_pct.copy()
    soc_out[0] = soc
    state = np.zeros(n, dtype=np.int8)
    current_a = np.empty(n)
    r_string = r_ohm.sum()
    first_s, first_pack, first_code = np.nan, -1, 0
    circulating_out[:] = 0.0
    for k in range(n_steps):
        t_left = step_s
        charge_as = served_j = loss_j = voltage_vs = t_on = 0.0
        for _ in range(max_substeps):
            emf_v = 0.0
            for i in range(n):
                emf_v += np.interp(soc[i], grid_pct, ocv_table_v[i])
            string_a = _string_current_a(load[k], is_power, emf_v, r_string, max_a, soc, state)
            if first_pack < 0:
                for i in range(n):
                    if state[i] != PACK_ON_BUS:
                        first_s, first_pack, first_code = k * step_s + step_s - t_left, i, state[i]
                        break
            current_a[:] = string_a
            dt = t_left
            hit = -1
            for i in range(n):
                t_hit = time_to_bound_s(soc[i], capacity_as[i], string_a)
                if t_hit < dt:
                    dt, hit = t_hit, i
            advance_soc(soc, capacity_as, current_a, dt, hit)
            charge_as += string_a * dt
            loss_j += string_a * string_a * r_string * dt
            if state.max() != PACK_TRIPPED:
                bus_v = emf_v - string_a * r_string
                served_j += bus_v * string_a * dt
                voltage_vs += bus_v * dt
                t_on += dt
            t_left -= dt
            if t_left <= 1e-9 * step_s:
                break
        soc_out[k + 1] = soc
        current_out[k] = charge_as / step_s
        voltage_out[k] = voltage_vs / t_on if t_on > 0.0 else np.nan
        terminal_out[k] = charge_as / step_s
        served_out[k] = served_j / step_s
        loss_out[k] = loss_j / step_s
        state_out[k] = state
    return first_s, first_pack, first_code


def simulate_series(
    packs: Sequence[PackElectrical],
    power_w: ArrayLike | None = None,
    *,
    step_s: float,
    current_a: ArrayLike | None = None,
) -> TopologyResult:
    """Run packs in one series string through a load profile.

    Same profile rules as :func:`socbal.topology.parallel.simulate_parallel`:
    exactly one of ``power_w`` (W at the string terminals) or ``current_a``
    (A), one value per step of ``step_s`` s, positive = discharging.
    """
    return simulate(_kernel, "series", packs, power_w, current_a, step_s)


def usable_cycle_ah(packs: Sequence[PackElectrical]) -> float:
    """Charge in Ah a string cycles between "first pack full" and "first pack empty".

    Charge until the first pack is full, then discharge until the first is
    empty (or the other way round: the result is the same):
    ``min_i(remaining_i) + min_i(headroom_i)``. For equal packs at equal SOC it
    is one pack's capacity; every mismatch in capacity or SOC costs usable charge.
    """
    remaining = min(p.capacity_ah * p.soc_pct / 100.0 for p in packs)
    headroom = min(p.capacity_ah * (100.0 - p.soc_pct) / 100.0 for p in packs)
    return remaining + headroom
