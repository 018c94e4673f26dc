"""Packs in one series string (no DC-DC): one current through all, the weakest pack limits the string.

The string is one source: EMF = sum OCV_i, resistance = sum R_i; a power load
P draws the smaller root of R I^2 - E I + P = 0. The same current flows through
every pack, so the string stops discharging as soon as any pack is empty (or
at the run's SOC floor, ``floor_pct``) and stops charging as soon as any pack
is full, whatever charge the others still hold or could take. A step is cut where the first pack reaches its bound, so
it lands exactly there. A current above any pack's ``max_current_a`` trips
that pack's BMS, which opens the string for the rest of the run.

:func:`solve_string` is the string at one moment; ``socbal.topology.simulate_series``
steps it through a load profile.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import njit

from socbal.topology._circuit import terminal_current_a
from socbal.topology.pack_electrical import PackElectrical
from socbal.topology.result import PACK_AT_FLOOR, PACK_EMPTY, PACK_FULL, PACK_ON_BUS, PACK_TRIPPED


@njit(cache=True)
def solve_string(load, is_power, ocv_v, r_ohm, max_a, soc_pct, floor_pct, tripped, state, current_a):
    """The string at one moment: (terminal voltage V, string current A, 0 circulating); see ``simulation``.

    The current is 0 while a pack blocks its direction (at the floor or empty, or full); a
    current over any pack's limit trips it and opens the string for good
    (voltage NaN from then on).
    """
    n = ocv_v.shape[0]
    current_a[:] = 0.0
    for i in range(n):
        state[i] = PACK_TRIPPED if tripped[i] else PACK_ON_BUS
    if tripped.any():
        return np.nan, 0.0, 0.0
    emf_v = ocv_v.sum()
    r_string = r_ohm.sum()
    string_a = terminal_current_a(load, emf_v, r_string) if is_power else load
    blocked = False
    for i in range(n):
        if soc_pct[i] <= floor_pct and string_a > 0.0:
            state[i] = PACK_EMPTY if soc_pct[i] <= 0.0 else PACK_AT_FLOOR
            blocked = True
        elif soc_pct[i] >= 100.0 and string_a < 0.0:
            state[i] = PACK_FULL
            blocked = True
    if blocked:
        return emf_v, 0.0, 0.0
    for i in range(n):
        if abs(string_a) > max_a[i]:
            state[i] = PACK_TRIPPED
            tripped[i] = True
            blocked = True
    if blocked:
        return np.nan, 0.0, 0.0
    current_a[:] = string_a
    return emf_v - string_a * r_string, string_a, 0.0


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
