"""Device-level dispatch: how much the batteries must charge or discharge this step (compiled).

Sign convention of the returned battery request: + discharge, - charge (W, bus side).
"""

from __future__ import annotations

from typing import NamedTuple

from socbal.ems.kernel import SOURCE_AC, SOURCE_PV, SOURCE_PV_AC
from socbal.jit import fast_arithmetic, fmax, fmin, inline_kernel

MODE_FOLLOW_LOAD = 0
MODE_FIXED_OUTPUT = 1
MODE_CODES = {"follow-load": MODE_FOLLOW_LOAD, "fixed-output": MODE_FIXED_OUTPUT}

#: Assumed charging efficiency when sizing AC backup charging to reach the reserve, 0-1.
AC_SIZING_EFFICIENCY = 0.9
#: Smallest AC backup charging power, as a share of the AC charging limit.
AC_MIN_SHARE = 0.05


class Dispatch(NamedTuple):
    """What the device asks of its batteries for one step."""

    request_w: float  # battery request, bus side: + discharge, - charge
    backup: bool  # AC backup charging from the grid is running
    source: int  # charging source (socbal.ems.kernel.SOURCE_*): which rule of the spec applies
    pv_usable_w: float  # PV after the input limit
    pv_to_output_w: float  # PV sent straight to the AC output
    output_target_w: float  # what the AC output aims for


@inline_kernel
@fast_arithmetic
def device_request(
    load_w: float,
    pv_w: float,
    grid_on: bool,
    total_soc_pct: float,
    total_capacity_wh: float,
    mode: int,
    fixed_output_w: float,
    ac_output_limit_w: float,
    pv_input_limit_w: float,
    ac_charge_limit_w: float,
    reserve_pct: float,
    backup_band_pct: float,
    backup_was_on: bool,
    step_s: float,
):
    """Decide the battery request for one step (a :class:`Dispatch`).

    Backup charging from the grid runs while the total SOC is below the reserve with the grid
    on: the grid serves the house and the batteries only charge, from PV surplus plus AC sized
    to reach the reserve.
    Backup charging starts once the total SOC is ``backup_band_pct`` below the reserve and,
    once on (``backup_was_on``), runs until the reserve is reached, so standby draws do not
    switch it on and off at the boundary; pass the returned ``backup`` back next step.
    The main unit's own consumption is not part of the request (see :mod:`socbal.device.main_unit`).
    """
    pv_usable_w = fmin(pv_w, pv_input_limit_w)
    if mode == MODE_FIXED_OUTPUT:
        output_target_w = fmin(fixed_output_w, ac_output_limit_w)
        if not grid_on:  # no grid to export into: never push more than the house takes
            output_target_w = fmin(output_target_w, load_w)
    else:
        output_target_w = fmin(load_w, ac_output_limit_w)
    pv_to_output_w = fmin(pv_usable_w, output_target_w)
    surplus_w = pv_usable_w - pv_to_output_w
    below = total_soc_pct < reserve_pct - backup_band_pct or (backup_was_on and total_soc_pct < reserve_pct)
    backup = grid_on and ac_charge_limit_w > 0.0 and below
    if backup:
        deficit_wh = (reserve_pct - total_soc_pct) / 100.0 * total_capacity_wh
        # Sized to reach the reserve within the step, with a floor so standby draws cannot stall it just below.
        ac_charge_w = fmin(
            ac_charge_limit_w, fmax(deficit_wh * 3600.0 / step_s / AC_SIZING_EFFICIENCY, AC_MIN_SHARE * ac_charge_limit_w)
        )
        source = SOURCE_PV_AC if surplus_w > 0.0 else SOURCE_AC
        return Dispatch(-(surplus_w + ac_charge_w), True, source, pv_usable_w, pv_to_output_w, output_target_w)
    return Dispatch(output_target_w - pv_usable_w, False, SOURCE_PV, pv_usable_w, pv_to_output_w, output_target_w)
