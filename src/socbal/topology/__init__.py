"""Traditional pack connections without DC-DC modules, to measure the DC-DC architecture against.

- :func:`simulate_parallel`: packs tied to one bus (circulating current, I^2 R heat, BMS trips).
- :func:`simulate_series`: one string, one current (the weakest pack stops it).
- :class:`PackElectrical`: capacity, SOC, chemistry, cells in series, resistance, current limit.
- :func:`cell_ocv_v`: tabulated LFP/NMC open-circuit voltage curves (sources in :mod:`.ocv`).

Both simulations take the same packs and a load profile (W or A per step) and
return a :class:`TopologyResult` with per-step arrays and totals.
"""

from socbal import _jit_cache

_jit_cache.configure()  # before any compiled module of this package is imported

from socbal.topology.ocv import CHEMISTRIES, SOC_GRID_PCT, Chemistry, cell_ocv_v, mean_cell_ocv_v  # noqa: E402
from socbal.topology.pack_electrical import PackElectrical  # noqa: E402
from socbal.topology.result import PACK_STATE_TEXT, TopologyResult  # noqa: E402
from socbal.topology.series import usable_cycle_ah  # noqa: E402
from socbal.topology.simulation import simulate_parallel, simulate_series  # noqa: E402

__all__ = [
    "CHEMISTRIES",
    "Chemistry",
    "PACK_STATE_TEXT",
    "PackElectrical",
    "SOC_GRID_PCT",
    "TopologyResult",
    "cell_ocv_v",
    "mean_cell_ocv_v",
    "simulate_parallel",
    "simulate_series",
    "usable_cycle_ah",
]
