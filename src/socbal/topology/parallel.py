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
pack (or one at the run's SOC floor, ``floor_pct``) may not discharge and a full
one may not charge (it leaves the bus while the bus would push it past its
limit, and rejoins when the current turns).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from socbal.topology._circuit import terminal_current_a
from socbal.topology.result import PACK_AT_FLOOR, PACK_EMPTY, PACK_FULL, PACK_ON_BUS, PACK_TRIPPED


@njit(cache=True)
def solve_bus(load, is_power, ocv_v, r_ohm, max_a, soc_pct, floor_pct, tripped, state, current_a):
    """The bank at one moment: (bus voltage V, load current A, circulating current A); see ``simulation``.

    Packs that the bus would push below the floor (0 %: empty) or past full leave
    first, then packs over their current limit trip; the bus is solved again
    after each removal.
    Returns (NaN, 0, 0) when no pack is left on the bus. The circulating current
    is ``(sum |I_i| - |I_load|) / 2``: what packs charge while the bank
    discharges or rests (or discharge while it charges).
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
            return np.nan, 0.0, 0.0
        emf_v = source / conductance
        load_a = terminal_current_a(load, emf_v, 1.0 / conductance) if is_power else load
        bus_v = emf_v - load_a / conductance
        for i in range(n):
            current_a[i] = (ocv_v[i] - bus_v) / r_ohm[i] if state[i] == PACK_ON_BUS else 0.0
        removed = False
        for i in range(n):
            if state[i] == PACK_ON_BUS and soc_pct[i] <= floor_pct and current_a[i] > 0.0:
                state[i] = PACK_EMPTY if soc_pct[i] <= 0.0 else PACK_AT_FLOOR
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
            return bus_v, load_a, 0.5 * (np.sum(np.abs(current_a)) - abs(load_a))
