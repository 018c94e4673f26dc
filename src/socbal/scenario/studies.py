"""Settings of the studies run on a scenario: ``[compare]`` (series and parallel wiring) and ``[lifetime]``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from socbal.validation import StrictModel


class CompareSpec(StrictModel):
    """How ``socbal compare`` wires the scenario's packs directly in series and in parallel (no DC-DC).

    The packs keep their usable capacity (``capacity_wh * soh_pct``), initial SOC and
    ``internal_resistance_ohm``; these settings add what a direct connection needs.
    """

    chemistry: Literal["lfp", "nmc"] = Field("lfp", description="Cell chemistry: selects the OCV curve (lfp or nmc)")
    cells_in_series: int | None = Field(
        None, ge=1, le=1000, description="Cells in series per pack; default: the pack's nominal_voltage_v / mean cell OCV"
    )
    max_current_a: float | None = Field(
        None, gt=0, description="BMS trip current of every pack, A (either direction); default: no trip"
    )


class LifetimeSpec(StrictModel):
    """Settings of ``socbal lifetime``: the cells' chemistry (BLAST-Lite model) and their temperature."""

    chemistry: Literal["lfp", "nmc"] = Field("lfp", description="Cell chemistry: lfp or nmc (selects the fade model)")
    temperature_c: float = Field(25.0, ge=-40, le=80, description="Cell temperature, constant all year, C")
