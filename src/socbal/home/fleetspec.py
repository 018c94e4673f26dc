"""How the homes of a home fleet differ: the ``[fleet]`` section of a home scenario (validated).

Every spread defaults to none, so a bare ``[fleet]`` repeats the scenario's home N times. Scalings are
lognormal with median 1; the capacity spread is normal, cut at 3 standard deviations; ranges are uniform.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, Strict, field_validator

from socbal.validation import FloatPair, StrictModel

#: A TOML array of two integers.
IntPair = Annotated[tuple[int, int], Strict(False)]


def _ordered(value, low: float, high: float):
    """Check a ``[from, to]`` range: ordered and inside ``[low, high]``."""
    if value is not None and not (low <= value[0] <= value[1] <= high):
        raise ValueError(f"must be [from, to] with {low:g} <= from <= to <= {high:g}")
    return value


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

    @field_validator("soh_pct")
    @classmethod
    def _soh_range(cls, value):
        if value is not None and value[0] <= 0:
            raise ValueError("must be [from, to] with 0 < from <= to <= 100")
        return _ordered(value, 0.0, 100.0)

    @field_validator("initial_soc_pct")
    @classmethod
    def _soc_range(cls, value):
        return _ordered(value, 0.0, 100.0)

    @field_validator("device_count")
    @classmethod
    def _count_range(cls, value):
        return _ordered(value, 1, 1000)
