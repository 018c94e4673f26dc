"""Open-circuit voltage (OCV) of one cell as a function of SOC, for LFP and NMC.

The tables are full-cell OCV curves derived from two public, peer-reviewed
parameter sets as shipped with PyBaMM (https://pybamm.org, parameter sets
``Chen2020`` and ``Prada2013``):

- **NMC**: LG M50 21700 cell (NMC811 / graphite-SiOx), electrode open-circuit
  potentials of Chen et al., "Development of Experimental Techniques for
  Parameterization of Multi-scale Lithium-ion Battery Models",
  J. Electrochem. Soc. 167 (2020) 080534, doi:10.1149/1945-7111/ab9050.
  SOC 0-100 % spans the set's 2.5-4.2 V cut-offs.
- **LFP**: A123 ANR26650 cell (LiFePO4 / graphite) of Prada et al., "A
  Simplified Electrochemical and Thermal Aging Model of LiFePO4-Graphite
  Li-ion Batteries", J. Electrochem. Soc. 160 (2013) A616,
  doi:10.1149/2.053304jes, with the LFP potential fit of Afshar et al. (2017)
  and the graphite potential of Chen et al. (2020), as PyBaMM combines them.
  SOC 0-100 % spans the set's 2.0-3.6 V cut-offs.

Derivation (reproduced by ``tests/topology/test_reference_pybamm.py``): the
electrode stoichiometries at 0 % and 100 % SOC come from
``pybamm.lithium_ion.get_min_max_stoichiometries``; at SOC s the cell OCV is
U_pos(y0 - s (y0 - y100)) - U_neg(x0 + s (x100 - x0)), at 25 degC, tabulated
to 0.1 mV on a grid that is denser near empty and full where the curves bend.
Between grid points the OCV is interpolated linearly. Hysteresis and
temperature dependence are not modelled.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

Chemistry = Literal["lfp", "nmc"]

#: SOC grid of the tables, % (0-100).
SOC_GRID_PCT = np.array(
    [0, 1, 2, 3, 5, 7.5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55,
     60, 65, 70, 75, 80, 85, 90, 92.5, 95, 97, 98, 99, 100],
    dtype=np.float64,
)  # fmt: skip

#: Cell OCV on ``SOC_GRID_PCT``, V.
_CELL_OCV_V: dict[str, np.ndarray] = {
    "lfp": np.array(
        [2.0000, 2.2655, 2.4600, 2.6028, 2.7853, 2.9057, 2.9781, 3.1080, 3.1685, 3.1857,
         3.2058, 3.2324, 3.2525, 3.2621, 3.2660, 3.2678, 3.2688, 3.2700, 3.2740, 3.2926,
         3.3097, 3.3132, 3.3142, 3.3146, 3.3164, 3.3274, 3.3502, 3.4150, 3.6000]
    ),
    "nmc": np.array(
        [2.5000, 2.7114, 2.8625, 2.9712, 3.1094, 3.2107, 3.2959, 3.4339, 3.4852, 3.5286,
         3.5814, 3.6290, 3.6670, 3.7054, 3.7509, 3.7983, 3.8406, 3.8896, 3.9479, 3.9943,
         4.0421, 4.0809, 4.0967, 4.1048, 4.1236, 4.1488, 4.1645, 4.1817, 4.2000]
    ),
}  # fmt: skip

CHEMISTRIES: tuple[str, ...] = tuple(_CELL_OCV_V)

for _volts in _CELL_OCV_V.values():
    _volts.setflags(write=False)
SOC_GRID_PCT.setflags(write=False)


def _table(chemistry: str) -> np.ndarray:
    try:
        return _CELL_OCV_V[chemistry]
    except KeyError:
        raise ValueError(f"chemistry {chemistry!r} is not known: choose one of {', '.join(CHEMISTRIES)}") from None


def cell_ocv_table_v(chemistry: Chemistry) -> np.ndarray:
    """Cell OCV in V on :data:`SOC_GRID_PCT` (read-only array)."""
    return _table(chemistry)


def cell_ocv_v(chemistry: Chemistry, soc_pct: ArrayLike) -> np.ndarray:
    """Cell OCV in V at ``soc_pct`` (%, any shape); SOC outside 0-100 is held at the end values."""
    return np.interp(np.asarray(soc_pct, dtype=np.float64), SOC_GRID_PCT, _table(chemistry))


def energy_fraction(chemistry: Chemistry, soc_pct: ArrayLike) -> np.ndarray:
    """Share (0-1) of a cell's energy between empty and full, at zero current, that it holds at ``soc_pct``.

    The integral of the interpolated OCV from 0 to ``soc_pct`` over its integral to 100 %
    (exact for the piecewise-linear curve). A pack of ``capacity_wh`` holds
    ``capacity_wh * energy_fraction(chemistry, soc_pct)``: charge moved at the OCV,
    not ``capacity_wh * soc_pct / 100`` (equal only at 0 and 100 %). SOC outside
    0-100 is clipped.
    """
    volts = _table(chemistry)
    soc = np.clip(np.asarray(soc_pct, dtype=np.float64), 0.0, 100.0)
    cumulative = np.concatenate([[0.0], np.cumsum(0.5 * (volts[1:] + volts[:-1]) * np.diff(SOC_GRID_PCT))])
    k = np.clip(np.searchsorted(SOC_GRID_PCT, soc, side="right") - 1, 0, SOC_GRID_PCT.size - 2)
    partial = (soc - SOC_GRID_PCT[k]) * 0.5 * (volts[k] + np.interp(soc, SOC_GRID_PCT, volts))
    return (cumulative[k] + partial) / cumulative[-1]


def mean_cell_ocv_v(chemistry: Chemistry) -> float:
    """Charge-weighted mean cell OCV in V over 0-100 % SOC: energy per charge at zero current.

    ``capacity_wh = capacity_ah * cells_in_series * mean_cell_ocv_v(chemistry)``
    is exact for the interpolated curve (trapezoids integrate it exactly).
    """
    volts = _table(chemistry)
    area = np.sum(0.5 * (volts[1:] + volts[:-1]) * np.diff(SOC_GRID_PCT))
    return float(area / 100.0)
