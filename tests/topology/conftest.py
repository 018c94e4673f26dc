"""Pack factories shared by the topology tests."""

from __future__ import annotations

import pytest

from socbal.topology import PackElectrical


def make_pack(
    soc_pct: float,
    capacity_ah: float = 50.0,
    chemistry: str = "nmc",
    resistance_ohm: float = 0.05,
    max_current_a: float | None = None,
) -> PackElectrical:
    """A 48 V-class pack (14 s NMC or 16 s LFP) with the given SOC."""
    cells = 14 if chemistry == "nmc" else 16
    return PackElectrical(
        capacity_ah=capacity_ah,
        soc_pct=soc_pct,
        chemistry=chemistry,
        cells_in_series=cells,
        internal_resistance_ohm=resistance_ohm,
        max_current_a=max_current_a,
    )


@pytest.fixture
def pack():
    return make_pack
