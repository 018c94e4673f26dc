"""Electrical description of one battery pack tied directly to others (no DC-DC).

A pack is ``cells_in_series`` identical cells of one chemistry: its open-circuit
voltage is ``cells_in_series * cell_ocv_v(chemistry, soc_pct)`` and it has one
lumped, constant internal resistance. Validated at the edge (pydantic); the
simulations turn a list of packs into plain arrays with :func:`pack_arrays`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from pydantic import BaseModel, ConfigDict, Field

from socbal.errors import InputError
from socbal.topology.ocv import SOC_GRID_PCT, Chemistry, cell_ocv_table_v, cell_ocv_v, energy_fraction, mean_cell_ocv_v

#: Cells in series of a typical 48 V home-storage pack (51.2 V LFP, 51.8 V NMC).
DEFAULT_CELLS_IN_SERIES: dict[str, int] = {"lfp": 16, "nmc": 14}


class PackElectrical(BaseModel):
    """One pack: charge capacity, SOC, chemistry, cell count, resistance and BMS current limit."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    capacity_ah: float = Field(gt=0, description="Charge capacity between 0 and 100 % SOC, Ah")
    soc_pct: float = Field(ge=0, le=100, description="State of charge, % (0-100)")
    chemistry: Chemistry = Field(description="Cell chemistry: 'lfp' or 'nmc' (selects the OCV curve)")
    cells_in_series: int = Field(ge=1, le=1000, description="Cells in series; pack OCV = cells x cell OCV")
    internal_resistance_ohm: float = Field(gt=0, description="Lumped pack internal resistance, ohm")
    max_current_a: float | None = Field(None, gt=0, description="BMS trip current, A (either direction); None: no limit")

    @classmethod
    def from_capacity_wh(
        cls,
        capacity_wh: float,
        soc_pct: float,
        chemistry: Chemistry,
        internal_resistance_ohm: float,
        cells_in_series: int | None = None,
        max_current_a: float | None = None,
    ) -> PackElectrical:
        """A pack described as the DC-DC simulator describes it (energy capacity in Wh).

        ``capacity_ah = capacity_wh / nominal voltage`` with the nominal voltage
        the mean OCV of the chemistry's curve, so the pack holds ``capacity_wh``
        between empty and full at zero current. ``cells_in_series`` defaults to
        :data:`DEFAULT_CELLS_IN_SERIES` for the chemistry.
        """
        if chemistry not in DEFAULT_CELLS_IN_SERIES:
            allowed = ", ".join(DEFAULT_CELLS_IN_SERIES)
            raise InputError(f"chemistry: value {chemistry!r} is not allowed: choose one of {allowed}")
        if not (isinstance(capacity_wh, (int, float)) and np.isfinite(capacity_wh) and capacity_wh > 0):
            raise InputError(f"capacity_wh: value {capacity_wh!r} is not allowed: must be a finite number > 0")
        cells = DEFAULT_CELLS_IN_SERIES[chemistry] if cells_in_series is None else cells_in_series
        valid_cells = cells if isinstance(cells, int) and cells >= 1 else 1  # a bad count is reported by the model below
        nominal_v = valid_cells * mean_cell_ocv_v(chemistry)
        return cls(
            capacity_ah=capacity_wh / nominal_v,
            soc_pct=soc_pct,
            chemistry=chemistry,
            cells_in_series=cells,
            internal_resistance_ohm=internal_resistance_ohm,
            max_current_a=max_current_a,
        )

    @property
    def nominal_voltage_v(self) -> float:
        """Mean OCV over 0-100 % SOC, V."""
        return self.cells_in_series * mean_cell_ocv_v(self.chemistry)

    @property
    def capacity_wh(self) -> float:
        """Energy between empty and full at zero current, Wh."""
        return self.capacity_ah * self.nominal_voltage_v

    def stored_energy_wh(self, soc_pct: ArrayLike) -> np.ndarray:
        """Energy the pack holds at ``soc_pct`` (any shape), Wh: what it gives at zero current down to 0 % SOC."""
        return self.capacity_wh * energy_fraction(self.chemistry, soc_pct)

    @property
    def ocv_v(self) -> float:
        """Open-circuit voltage at the pack's SOC, V."""
        return self.cells_in_series * float(cell_ocv_v(self.chemistry, self.soc_pct))


class PackArrays(NamedTuple):
    """A list of packs as plain arrays for the time-stepping kernels (one row per pack)."""

    capacity_as: np.ndarray  # charge capacity, A*s
    soc_pct: np.ndarray  # initial SOC, %
    resistance_ohm: np.ndarray  # internal resistance, ohm
    max_current_a: np.ndarray  # trip current, A (inf: no limit)
    ocv_table_v: np.ndarray  # (n_packs, len(SOC_GRID_PCT)) pack OCV on SOC_GRID_PCT, V


def pack_arrays(packs: Sequence[PackElectrical]) -> PackArrays:
    """Stack packs into :class:`PackArrays`; raises :class:`InputError` on an empty list or a non-pack."""
    if len(packs) == 0:
        raise InputError("packs: the list is empty: give at least one pack")
    for i, pack in enumerate(packs):
        if not isinstance(pack, PackElectrical):
            raise InputError(f"packs[{i}]: {type(pack).__name__} is not a PackElectrical")
    return PackArrays(
        capacity_as=np.array([p.capacity_ah * 3600.0 for p in packs]),
        soc_pct=np.array([p.soc_pct for p in packs]),
        resistance_ohm=np.array([p.internal_resistance_ohm for p in packs]),
        max_current_a=np.array([np.inf if p.max_current_a is None else p.max_current_a for p in packs]),
        ocv_table_v=np.array([p.cells_in_series * cell_ocv_table_v(p.chemistry) for p in packs]),
    )


__all__ = ["DEFAULT_CELLS_IN_SERIES", "PackArrays", "PackElectrical", "SOC_GRID_PCT", "pack_arrays"]
