"""Validated inputs of one EMS decision (the ``socbal allocate`` JSON contract).

Percentages are 0-100, power in W, energy in Wh. Every model forbids unknown
fields and NaN/inf, so a typo or a broken sensor value is an error that names
the field instead of a silent default.
"""

from __future__ import annotations

import re
from typing import Literal, get_args

from pydantic import Field, field_validator, model_validator

from socbal.ems.kernel import STRATEGY_CODES
from socbal.errors import field_problems
from socbal.validation import StrictModel

StrategyName = Literal["spec", "soc-proportional", "droop", "reserve-aware", "capacity-proportional", "equal", "priority"]
#: Every strategy's name, in the order above (the one list the CLI, the lifetime study and MQTT discovery use).
STRATEGY_NAMES: tuple[str, ...] = get_args(StrategyName)
SourceName = Literal["pv", "pv+ac", "ac"]

#: Largest power (W) and energy (Wh) accepted anywhere: far beyond any home or balcony device,
#: small enough that no product or sum of them overflows.
MAX_POWER_W = 1e7
MAX_ENERGY_WH = 1e8

#: The first EMS version whose AC-only charging fills packs below the reserve first.
LOW_PACKS_FIRST_VERSION = (1, 1, 5)

_VERSION_PATTERN = re.compile(r"^\d+(\.\d+){0,3}$")

assert set(STRATEGY_CODES) == set(STRATEGY_NAMES)  # the kernel and the contract name the same strategies


def parse_ems_version(text: str) -> tuple[int, ...]:
    """``"1.01.05"`` -> ``(1, 1, 5)``; parts compare numerically, missing parts are 0."""
    if not isinstance(text, str) or not _VERSION_PATTERN.match(text.strip()):
        raise ValueError(f"{text!r} is not a version: expected dot-separated numbers such as '1.01.05'")
    parts = [int(p) for p in text.strip().split(".")]
    return tuple(parts + [0] * (4 - len(parts)))


def prioritises_low_packs(ems_version: str) -> bool:
    """True for EMS 1.01.05 or later: AC-only charging fills packs below the reserve first."""
    return parse_ems_version(ems_version) >= parse_ems_version(".".join(map(str, LOW_PACKS_FIRST_VERSION)))


class Settings(StrictModel):
    """User settings of the EMS."""

    backup_reserve_pct: float = Field(10.0, ge=5, le=100, description="Backup reserve, % SOC (5-100)")
    ems_version: str = Field("1.01.05", description="EMS firmware version; decides AC-only charging behaviour")
    strategy: StrategyName = Field("spec", description="Rule that turns SOCs into power shares")
    droop_exponent: float = Field(2.0, gt=0, le=10, description="Exponent n of the droop strategy")
    reserve_hysteresis_pct: float = Field(
        1.0, ge=0, le=20, description="A pack held at the reserve resumes discharging only at reserve + this, % SOC"
    )
    backup_band_pct: float = Field(
        1.0,
        ge=0.5,
        le=20,
        description="AC backup charging starts once the total SOC is this far below the reserve and runs until the "
        "reserve, % SOC (at least 0.5, so standby draws cannot switch it on and off every few minutes)",
    )
    min_module_load_pct: float = Field(
        0.0,
        ge=0,
        le=100,
        description="Switch off the pack furthest ahead (the one the balancing rule gives least) while its share is "
        "below this % of its DC-DC limit and the others can take it (DC-DC modules are inefficient at low load); "
        "0 = the spec's rule, every eligible pack shares",
    )
    priority: list[str] | None = Field(None, description="Pack ids in priority order (priority strategy); default input order")

    @field_validator("ems_version")
    @classmethod
    def _version_is_numeric(cls, value: str) -> str:
        parse_ems_version(value)
        return value


class PackState(StrictModel):
    """One pack as the EMS sees it at decision time."""

    id: str = Field(min_length=1)
    soc_pct: float = Field(ge=0, le=100)
    capacity_wh: float = Field(gt=0, le=MAX_ENERGY_WH, description="Usable capacity, Wh")
    max_discharge_w: float = Field(ge=0, le=MAX_POWER_W, description="DC-DC discharge limit, W")
    max_charge_w: float = Field(ge=0, le=MAX_POWER_W, description="DC-DC charge limit, W")
    reserve_latched: bool = Field(False, description="Held in reserve standby by the previous decision (hysteresis)")


class Request(StrictModel):
    """Exactly one of ``discharge_w`` or ``charge_w`` (with ``source``), W >= 0."""

    discharge_w: float | None = Field(None, ge=0, le=MAX_POWER_W)
    charge_w: float | None = Field(None, ge=0, le=MAX_POWER_W)
    source: SourceName | None = None

    @model_validator(mode="after")
    def _exactly_one_direction(self) -> "Request":
        if (self.discharge_w is None) == (self.charge_w is None):
            raise ValueError("give exactly one of discharge_w or charge_w")
        if self.charge_w is not None and self.source is None:
            raise ValueError("charge_w needs a source: one of 'pv', 'pv+ac', 'ac'")
        if self.discharge_w is not None and self.source is not None:
            raise ValueError("source applies to charge_w only")
        return self

    @property
    def signed_w(self) -> float:
        """The request per the sign convention: + discharge, - charge, W."""
        return self.discharge_w if self.discharge_w is not None else -(self.charge_w or 0.0)  # one is set (validated)


class AllocateInput(StrictModel):
    """The whole input of one decision."""

    settings: Settings = Field(default_factory=Settings)
    packs: list[PackState] = Field(min_length=1)
    request: Request

    @model_validator(mode="after")
    def _ids_are_consistent(self) -> "AllocateInput":
        problems = check_pack_ids([p.id for p in self.packs], self.settings)
        if problems:
            raise field_problems(problems)
        return self


def check_pack_ids(ids: list[str], settings: Settings, fields: list[str] | None = None) -> list[str]:
    """The problems with a device's pack ids, one short line each (empty: none): every id must be unique,
    and a priority order must name each of them once. ``fields`` names each id's field in the input
    (default ``packs[i].id``); the lines start with it, e.g. ``packs[1].id: value 'a' is not allowed: ...``."""
    fields = fields or [f"packs[{i}].id" for i in range(len(ids))]
    problems = []
    first_field: dict[str, str] = {}
    for pack_id, field in zip(ids, fields):
        if pack_id in first_field:
            problems.append(f"{field}: value {pack_id!r} is not allowed: pack ids must be unique, {first_field[pack_id]} has it")
        else:
            first_field[pack_id] = field
    if settings.priority is not None and sorted(settings.priority) != sorted(ids):
        problems.append(f"settings.priority: value {settings.priority!r} is not allowed: must list every pack id once: {ids}")
    return problems
