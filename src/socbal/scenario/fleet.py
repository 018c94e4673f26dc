"""How the devices of a fleet differ: the ``[fleet]`` section of a scenario (validated).

Every spread defaults to none, so a bare ``[fleet]`` repeats the scenario's device N times.
Manufacturing spreads are normal, cut at 3 standard deviations; ranges are uniform.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from socbal.validation import FloatPair, StrictModel


def _ordered_range(value: tuple[float, float] | None, low: float, high: float) -> tuple[float, float] | None:
    """Check a ``(from, to)`` range: ordered and inside ``[low, high]``."""
    if value is not None and not (low <= value[0] <= value[1] <= high):
        raise ValueError(f"must be [from, to] with {low:g} <= from <= to <= {high:g}")
    return value


class FleetSpec(StrictModel):
    """Distributions the devices of a fleet are drawn from (per pack unless named per device)."""

    devices: int = Field(100, ge=1, le=10_000_000, description="Number of devices (socbal fleet --devices overrides)")
    seed: int = Field(0, ge=0, description="Seed of the random draws (socbal fleet --seed overrides)")
    capacity_spread_pct: float = Field(0.0, ge=0, le=30, description="Manufacturing spread of capacity: std, % of nominal")
    resistance_spread_pct: float = Field(
        0.0, ge=0, le=30, description="Manufacturing spread of internal resistance: std, % of nominal"
    )
    old_pack_share: float = Field(0.0, ge=0, le=1, description="Share of packs that are old (SOH from old_soh_pct)")
    old_soh_pct: FloatPair = Field((70.0, 85.0), description="SOH range of old packs, % (uniform)")
    new_soh_pct: FloatPair | None = Field(
        None, description="SOH range of the other packs, % (uniform); default: the scenario's SOH"
    )
    sensor_offset_std_w: float = Field(0.0, ge=0, le=30, description="Spread of current-sensor offsets: std, W")
    sensor_gain_error_std: float = Field(0.0, ge=0, le=0.05, description="Spread of current-sensor gain errors: std")
    soc_estimate_error_std_pct: float = Field(
        0.0, ge=0, le=20, description="Spread of the initial SOC-estimate error: std, % points"
    )
    initial_soc_pct: FloatPair | None = Field(
        None, description="Initial true SOC range, % (uniform per pack); default: the scenario's SOCs"
    )
    load_scale_sigma: float = Field(
        0.0, ge=0, le=2, description="Household load scaling per device: lognormal with median 1 and this sigma"
    )

    @field_validator("old_soh_pct", "new_soh_pct")
    @classmethod
    def _soh_range(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and value[0] <= 0:
            raise ValueError("must be [from, to] with 0 < from <= to <= 100")
        return _ordered_range(value, 0.0, 100.0)

    @field_validator("initial_soc_pct")
    @classmethod
    def _soc_range(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        return _ordered_range(value, 0.0, 100.0)
