"""Settings of the studies run on a scenario: ``[compare]`` (series and parallel wiring) and ``[lifetime]``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from socbal.ems.models import StrategyName
from socbal.validation import StrictModel

#: Most expansion packs a sweep may ask for.
MAX_SWEEP_PACKS = 12


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


class TimeOfUsePrice(StrictModel):
    """One time-of-use band: the import price from ``from_hour`` (local clock, 0-23) until the next band starts."""

    from_hour: int = Field(ge=0, le=23, description="Hour of the day the price starts, 0-23")
    price_per_kwh: float = Field(ge=0, description="Grid import price in this band, per kWh")


class TariffSpec(StrictModel):
    """``[tariff]``: what grid energy costs, to turn a sizing study's energy into money.

    Either a flat ``import_price_per_kwh`` or ``time_of_use`` bands (each from its hour until
    the next band's); ``feed_in_price_per_kwh`` is paid for export. Prices in ``currency``.
    """

    currency: str = Field("EUR", min_length=1, max_length=8, description="Currency of every price")
    import_price_per_kwh: float | None = Field(None, ge=0, description="Flat grid import price, per kWh")
    time_of_use: list[TimeOfUsePrice] | None = Field(None, min_length=1, description="Import price bands by hour of day")
    feed_in_price_per_kwh: float = Field(0.0, ge=0, description="Price paid for exported energy, per kWh")

    @model_validator(mode="after")
    def _one_import_price(self) -> "TariffSpec":
        """Exactly one import price: flat or time of use."""
        if (self.import_price_per_kwh is None) == (self.time_of_use is None):
            raise ValueError("give either import_price_per_kwh (flat) or time_of_use (bands), not both and not neither")
        if self.time_of_use is not None:
            hours = [band.from_hour for band in self.time_of_use]
            if len(set(hours)) != len(hours):
                raise ValueError(f"time_of_use: from_hour values {hours} repeat; each band needs its own hour")
        return self

    def import_price_by_hour(self) -> list[float]:
        """The import price of each hour of the day, 0-23, per kWh."""
        if self.time_of_use is None:
            return [float(self.import_price_per_kwh or 0.0)] * 24
        bands = sorted(self.time_of_use, key=lambda b: b.from_hour)
        price = [bands[-1].price_per_kwh] * 24  # before the first band: the last band of the previous day
        for band in bands:
            for hour in range(band.from_hour, 24):
                price[hour] = band.price_per_kwh
        return price


class SweepSpec(StrictModel):
    """``[sweep]``: the combinations ``socbal sweep`` runs (command-line options override them).

    ``packs``: numbers of expansion packs (each added pack a copy of the scenario's last one);
    ``pv_kwp``: PV peak powers (needs a PV profile with ``kwp``); ``strategies``: EMS strategies;
    ``pack_price``: price of one added pack, for the payback (in the tariff's currency).
    """

    packs: list[Annotated[int, Field(ge=0, le=MAX_SWEEP_PACKS)]] | None = Field(
        None, min_length=1, description=f"Numbers of expansion packs, e.g. [0, 1, 2, 3] (0-{MAX_SWEEP_PACKS})"
    )
    pv_kwp: list[Annotated[float, Field(gt=0, le=1000)]] | None = Field(
        None, min_length=1, description="PV peak powers to try, kWp"
    )
    strategies: list[StrategyName] | None = Field(None, min_length=1, description="EMS strategies to try")
    pack_price: float | None = Field(None, ge=0, description="Price of one added pack (for the payback)")
