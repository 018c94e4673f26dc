"""Where the main unit's own consumption comes from (spec 7.3): one rule for the simulator and the emulator.

While the device operates (it serves a request or takes PV), the main unit draws ``active_w``;
in deep standby ``standby_w`` (about 6 W). With an auxiliary power module and the grid on, both
come from the grid. Otherwise an operating main unit is a load on the bus, shared by the EMS
like the household's, so it is fed by the packs above the reserve; a main unit in deep standby
(or one that nothing on the bus can feed) is powered by its internal battery.
"""

from __future__ import annotations

from socbal.jit import fast_arithmetic, inline_kernel


@inline_kernel
@fast_arithmetic
def main_unit_supply_w(
    operating: bool, grid_on: bool, aux_power_module: bool, active_w: float, standby_w: float
) -> tuple[float, float, float]:
    """``(from_grid_w, from_bus_w, from_main_battery_w)``: the main unit's draw by source, W."""
    draw_w = active_w if operating else standby_w
    if aux_power_module and grid_on:
        return draw_w, 0.0, 0.0
    if operating:
        return 0.0, draw_w, 0.0
    return 0.0, 0.0, draw_w
