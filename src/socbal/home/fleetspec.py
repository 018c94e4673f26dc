"""How the homes of a home fleet differ: the ``[fleet]`` section of a home scenario (validated).

Every spread defaults to none, so a bare ``[fleet]`` repeats the scenario's home N times. Scalings are
lognormal with median 1; the capacity spread is normal, cut at 3 standard deviations; ranges are uniform.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, Strict, field_validator

from socbal.scenario.fleet import FleetSpec, _ordered_range
from socbal.validation import FloatPair, StrictModel

#: A TOML array of two integers.
IntPair = Annotated[tuple[int, int], Strict(False)]


class HomeFleetSpec(StrictModel):
    """Distributions the homes of a fleet are drawn from around the scenario's home."""

    homes: int = Field(100, ge=1, le=10_000_000, description="Number of homes (socbal fleet --homes overrides)")
    seed: int = Field(0, ge=0, description="Seed of the random draws (socbal fleet --seed overrides)")
    load_scale_sigma: float = Field(0.0, ge=0, le=2, description="Household load scaling per home: lognormal sigma")
    pv_scale_sigma: float = Field(0.0, ge=0, le=2, description="PV scaling per home (all its devices alike): lognormal sigma")
    capacity_spread_pct: float = Field(0.0, ge=0, le=30, description="Spread of each pack's capacity: std, % of nominal")
    soh_pct: FloatPair | None = Field(None, description="SOH range of every pack, % (uniform); default: the scenario's SOH")
    initial_soc_pct: FloatPair | None = Field(
        None, description="Initial SOC range per device, % (uniform; all its packs start there); default: the scenario's"
    )
    device_count: IntPair | None = Field(
        None, description="Range of the number of devices per home (uniform; a home keeps its first N); default: all"
    )

    # the device fleet's rule for SOH ranges
    _soh_range = field_validator("soh_pct")(FleetSpec._soh_range.__func__)  # type: ignore[attr-defined]

    @field_validator("initial_soc_pct")
    @classmethod
    def _soc_range(cls, value):
        return _ordered_range(value, 0.0, 100.0)

    @field_validator("device_count")
    @classmethod
    def _count_range(cls, value):
        return _ordered_range(value, 1, 1000)
