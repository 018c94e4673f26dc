"""Packs tied directly to one DC bus (no DC-DC): bus voltage, pack currents, circulating current.

Each pack is an OCV source behind its internal resistance R_i. At every
moment the bus voltage V makes the pack currents add up to the load current:

    I_i = (OCV_i - V) / R_i,   sum I_i = I_load
    =>  V = (sum OCV_i / R_i - I_load) / sum 1 / R_i

For a power load P the bank is a Thevenin source (E = V at I_load = 0,
R_eq = 1 / sum 1/R_i) and I_load is the smaller root of R_eq I^2 - E I + P = 0.
Currents are held over a (sub-)step and the SOCs move with them (explicit
Euler); a step is cut where a pack reaches 0 % or 100 % so it lands exactly
there. Between packs at unequal OCV a circulating current flows, at rest too:
the fuller pack charges the emptier one, and both heat by I^2 R.

The packs' BMSs act as a BMS does: a pack whose |current| exceeds its
``max_current_a`` trips and stays off the bus for the rest of the run; an empty
pack may not discharge and a full one may not charge (it leaves the bus while
the bus would push it past its limit, and rejoins when the current turns).
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
def _solve_bus(load, is_power, ocv_v, r_ohm, max_a, soc_pct, tripped, state, current_a):
    """Bus voltage V and load current A for one moment; fills ``current_a`` and ``state``, may trip packs.

    Packs that the bus would push past empty or full leave first, then packs
    over their current limit trip; the bus is solved again after each removal.
    Returns (NaN, 0) when no pack is left on the bus.
    """
    n = ocv_v.shape[0]
    for i in range(n):
        state[i] = PACK_TRIPPED if tripped[i] else PACK_ON_BUS
    while True:
        conductance = 0.0
        source = 0.0
        for i in range(n):
            if state[i] == PACK_ON_BUS:
                conductance += 1.0 / r_ohm[i]
                source += ocv_v[i] / r_ohm[i]
        if conductance == 0.0:
            current_a[:] = 0.0
            return np.nan, 0.0
        emf_v = source / conductance
        load_a = terminal_current_a(load, emf_v, 1.0 / conductance) if is_power else load
        bus_v = emf_v - load_a / conductance
        for i in range(n):
            current_a[i] = (ocv_v[i] - bus_v) / r_ohm[i] if state[i] == PACK_ON_BUS else 0.0
        removed = False
        for i in range(n):
            if state[i] == PACK_ON_BUS and soc_pct[i] <= 0.0 and current_a[i] > 0.0:
                state[i] = PACK_EMPTY
                removed = True
            elif state[i] == PACK_ON_BUS and soc_pct[i] >= 100.0 and current_a[i] < 0.0:
                state[i] = PACK_FULL
                removed = True
        if not removed:
            for i in range(n):
                if state[i] == PACK_ON_BUS and abs(current_a[i]) > max_a[i]:
                    state[i] = PACK_TRIPPED
                    tripped[i] = True
                    removed = True
        if not removed:
            return bus_v, load_a


@njit(cache=True)
def _kernel(
    load, is_power, step_s, soc0_pct, capacity_as, r_ohm, max_a, grid_pct, ocv_table_v, max_substeps,
    soc_out, current_out, voltage_out, terminal_out, served_out, circulating_out, loss_out, state_out,
):  # fmt: skip
    """Step the bank through ``load`` (W or A per step); writes the ``*_out`` arrays.

    Returns (time of the first stop s or NaN, its pack or -1, its PACK_* code).
    """
    n_steps = load.shape[0]
    n = soc0_pct.shape[0]
    soc = soc0_pct.copy()
    soc_out[0] = soc
    tripped = np.zeros(n, dtype=np.bool_)
    state = np.zeros(n, dtype=np.int8)
    ocv_v = np.empty(n)
    current_a = np.empty(n)
    charge_as = np.empty(n)
    first_s, first_pack, first_code = np.nan, -1, 0
    for k in range(n_steps):
        t_left = step_s
        t_on = 0.0
        charge_as[:] = 0.0
        served_j = loss_j = circulating_as = voltage_vs = terminal_as = 0.0
        for _ in range(max_substeps):
            for i in range(n):
                ocv_v[i] = np.interp(soc[i], grid_pct, ocv_table_v[i])
            bus_v, load_a = _solve_bus(load[k], is_power, ocv_v, r_ohm, max_a, soc, tripped, state, current_a)
            if first_pack < 0:
                for i in range(n):
                    if state[i] != PACK_ON_BUS:
                        first_s, first_pack, first_code = k * step_s + step_s - t_left, i, state[i]
                        break
            dt = t_left
            hit = -1
            for i in range(n):
                t_hit = time_to_bound_s(soc[i], capacity_as[i], current_a[i])
                if t_hit < dt:
                    dt, hit = t_hit, i
            advance_soc(soc, capacity_as, current_a, dt, hit)
            abs_sum = 0.0
            for i in range(n):
                charge_as[i] += current_a[i] * dt
                loss_j += current_a[i] * current_a[i] * r_ohm[i] * dt
                abs_sum += abs(current_a[i])
            circulating_as += 0.5 * (abs_sum - abs(load_a)) * dt
            if not np.isnan(bus_v):
                served_j += bus_v * load_a * dt
                terminal_as += load_a * dt
                voltage_vs += bus_v * dt
                t_on += dt
            t_left -= dt
            if t_left <= 1e-9 * step_s:
                break
        soc_out[k + 1] = soc
        current_out[k] = charge_as / step_s
        voltage_out[k] = voltage_vs / t_on if t_on > 0.0 else np.nan
        terminal_out[k] = terminal_as / step_s
        served_out[k] = served_j / step_s
        circulating_out[k] = circulating_as / step_s
        loss_out[k] = loss_j / step_s
        state_out[k] = state
    return first_s, first_pack, first_code


def simulate_parallel(
    packs: Sequence[PackElectrical],
    power_w: ArrayLike | None = None,
    *,
    step_s: float,
    current_a: ArrayLike | None = None,
) -> TopologyResult:
    """Run packs tied to one bus through a load profile.

    Give exactly one profile, one value per step of ``step_s`` seconds:
    ``power_w`` (W at the bus terminals) or ``current_a`` (A); positive
    discharges the bank, negative charges it, 0 is rest (circulating current
    still flows between packs at unequal OCV). Packs are not changed.
    """
    return simulate(_kernel, "parallel", packs, power_w, current_a, step_s)
