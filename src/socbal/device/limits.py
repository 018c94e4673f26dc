"""How far a pack may go in one period: the limits the EMS is given (one rule for the simulator and the runtime).

A pack may discharge only the energy it holds above the backup reserve and charge only the
room it has below full, both as its BMS estimates them, within its DC-DC rating; a pack whose
BMS has cut it off (cells empty, or full) reports 0 W in that direction.
"""

from __future__ import annotations

import numpy as np

from socbal.device.physics import SECONDS_PER_HOUR, bus_limit_for_energy_w
from socbal.jit import fast_arithmetic, fmax, fmin, inline_kernel

#: Charge limit near full = (room + the pack's own draw) x this, covering conversion loss (efficiency >= 0.8
#: on the curves): the cells, not the estimate, stop the charge at full, so the pack can reach full and recalibrate.
CHARGE_ROOM_MARGIN = 1.25


@inline_kernel
@fast_arithmetic
def discharge_limit_w(
    soc_pct: float,
    reserve_pct: float,
    capacity_wh: float,
    period_s: float,
    rated_w: float,
    inv_rated_per_w: float,
    curve_load: np.ndarray,
    curve_eff: np.ndarray,
    curve_slope: np.ndarray,
    i2r_per_w2: float,
    rated_cell_w: float,
    cut_off_empty: bool,
) -> float:
    """Largest bus-side discharge (W) for ``period_s`` that keeps the pack at or above ``reserve_pct``.

    ``soc_pct`` and ``capacity_wh`` are what the BMS believes; losses are counted (the energy leaves
    the cells, not the bus). The converter is given as :func:`socbal.device.physics.cell_side_w` takes it;
    ``rated_cell_w`` is the battery side at rated discharge (or -1: computed).
    """
    if cut_off_empty:
        return 0.0
    above_reserve_wh = (soc_pct - reserve_pct) * 0.01 * capacity_wh
    return bus_limit_for_energy_w(
        above_reserve_wh, period_s, rated_w, inv_rated_per_w, curve_load, curve_eff, curve_slope, i2r_per_w2, rated_cell_w
    )


@inline_kernel
@fast_arithmetic
def charge_limit_w(
    soc_pct: float, capacity_wh: float, period_s: float, rated_w: float, own_draw_w: float, cut_off_full: bool
) -> float:
    """Largest bus-side charge (W, >= 0) for ``period_s``: the room to 100 % plus the pack's own draw meanwhile."""
    if cut_off_full:
        return 0.0
    room_w = (100.0 - soc_pct) * 0.01 * capacity_wh * (SECONDS_PER_HOUR / period_s)
    return fmax(fmin(rated_w, (room_w + own_draw_w) * CHARGE_ROOM_MARGIN), 0.0)
