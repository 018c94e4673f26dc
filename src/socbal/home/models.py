"""Validated inputs of one home decision (``socbal allocate`` with ``devices`` instead of ``packs``).

Percentages are 0-100, power in W, energy in Wh, time in s. Like the pack contract, every model
forbids unknown fields and NaN/inf, so a typo is an error that names the field.
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from socbal.ems.models import MAX_ENERGY_WH, MAX_POWER_W
from socbal.home.kernel import NEVER_S, STAGING_CODES, STRATEGY_CODES
from socbal.validation import StrictModel

HomeStrategyName = Literal["socbal", "equal", "sequential", "power-limit-soc"]
StagingName = Literal["auto", "always-share"]

assert set(STRATEGY_CODES) == set(get_args(HomeStrategyName))  # the kernel and the contract name the same strategies
assert set(STAGING_CODES) == set(get_args(StagingName))

#: Longest time accepted for any timer or setting, s (a year).
MAX_TIME_S = 366 * 24 * 3600.0


class HomeSettings(StrictModel):
    """How the home splits its battery request among its devices."""

    strategy: HomeStrategyName = Field(
        "socbal",
        description="socbal: weights by usable energy (room when charging), staged; baselines: equal, sequential "
        "(one device at a time in SOC order), power-limit-soc (weight = rated power x average SOC, staged)",
    )
    staging: StagingName = Field("auto", description="auto: the fewest devices that run in their efficient range; always-share")
    stage_up_pct: float = Field(
        80.0, gt=0, le=100, description="Stage another device on when the staged ones would run above this % of their rating"
    )
    stage_down_pct: float = Field(
        40.0, ge=0, le=100, description="Stage one off when the others could run below this % of their rating"
    )
    hold_s: float = Field(60.0, ge=0, le=MAX_TIME_S, description="A device staged on stays on at least this long, s")
    soc_lead_pct: float = Field(
        10.0, ge=0, le=100, description="Another device replaces a staged one only with this SOC lead, % points (rotation)"
    )
    handover_lead_s: float = Field(
        300.0,
        ge=0,
        le=MAX_TIME_S,
        description="socbal: a device counts for staging only with energy (room) for this long at its limit, s, so the "
        "next one is ramped in before it runs out; 0 = off",
    )
    deadband_w: float = Field(10.0, ge=0, le=MAX_POWER_W, description="Setpoint changes up to this are not written, W")
    ramp_w_per_s: float = Field(0.0, ge=0, le=MAX_POWER_W, description="A setpoint grows at most this fast, W/s; 0 = no limit")
    follow_s: float = Field(
        5.0, ge=0, le=MAX_TIME_S, description="socbal: after this long since its write a device should deliver its setpoint, s"
    )
    follow_tolerance_w: float = Field(
        25.0,
        ge=0,
        le=MAX_POWER_W,
        description="socbal: ... within this, W; a device further below is counted at what it delivers",
    )

    @model_validator(mode="after")
    def _thresholds_ordered(self) -> "HomeSettings":
        if self.stage_down_pct >= self.stage_up_pct:
            raise field_error(("stage_down_pct",), self.stage_down_pct, f"must be below stage_up_pct ({self.stage_up_pct:g})")
        return self


class DeviceState(StrictModel):
    """One storage device as the home decision sees it, with its memory from the previous decision."""

    id: str = Field(min_length=1)
    soc_pct: float = Field(ge=0, le=100, description="The device's SOC (capacity-weighted over its packs), %")
    weakest_pack_soc_pct: float | None = Field(
        None, ge=0, le=100, description="SOC of its emptiest pack, %; its usable energy is judged on it; default soc_pct"
    )
    capacity_wh: float = Field(gt=0, le=MAX_ENERGY_WH, description="Usable capacity of all its packs, Wh")
    reserve_pct: float = Field(10.0, ge=0, le=100, description="The device's backup reserve, % SOC")
    max_discharge_w: float = Field(ge=0, le=MAX_POWER_W, description="What it can discharge now, W (0 when it says it is empty)")
    max_charge_w: float = Field(ge=0, le=MAX_POWER_W, description="What it can charge now, W")
    rated_discharge_w: float | None = Field(
        None, ge=0, le=MAX_POWER_W, description="Hardware rating, discharge, W (staging thresholds); default max_discharge_w"
    )
    rated_charge_w: float | None = Field(
        None, ge=0, le=MAX_POWER_W, description="Hardware rating, charge, W; default max_charge_w"
    )
    efficient_discharge_w: float | None = Field(
        None,
        ge=0,
        le=MAX_POWER_W,
        description="socbal: discharge power at which its DC-DC modules are most efficient, W; it is filled this far "
        "before the next device gets power; default rated_discharge_w; 0: none, the request is shared by usable energy",
    )
    efficient_charge_w: float | None = Field(
        None, ge=0, le=MAX_POWER_W, description="socbal: the same for charging, W; default rated_charge_w"
    )
    online: bool = Field(True, description="False: excluded (no telemetry, or it does not follow)")
    circuit: str | None = Field(None, description="Id of the circuit (breaker, phase) it is on")
    measured_w: float | None = Field(
        None, ge=-MAX_POWER_W, le=MAX_POWER_W, description="Measured battery power, W (+ discharge); default last_setpoint_w"
    )
    min_write_interval_s: float = Field(0.0, ge=0, le=MAX_TIME_S, description="It is written no more often, s")
    staged_on: bool = Field(False, description="Staged on by the previous decision")
    since_stage_change_s: float = Field(
        NEVER_S,
        ge=0,
        description="Seconds since its staging last changed (default: long ago); feed back what the last "
        "decision returned plus the time since",
    )
    since_write_s: float = Field(NEVER_S, ge=0, description="Seconds since its last write (default: long ago)")
    last_setpoint_w: float = Field(0.0, ge=-MAX_POWER_W, le=MAX_POWER_W, description="Last written setpoint, W (+ discharge)")
    last_moving_setpoint_w: float = Field(
        0.0,
        ge=-MAX_POWER_W,
        le=MAX_POWER_W,
        description="Last non-zero setpoint written, W (+ discharge): the direction a device stopped from (interlock)",
    )

    @model_validator(mode="after")
    def _weakest_not_above_average(self) -> "DeviceState":
        if self.weakest_pack_soc_pct is not None and self.weakest_pack_soc_pct > self.soc_pct + 1e-9:
            raise field_error(
                ("weakest_pack_soc_pct",),
                self.weakest_pack_soc_pct,
                f"the emptiest pack cannot be above the device's soc_pct ({self.soc_pct:g})",
            )
        return self

    @property
    def usable_wh(self) -> float:
        """Energy above the reserve if every pack went down with its weakest one, Wh."""
        weakest = self.soc_pct if self.weakest_pack_soc_pct is None else self.weakest_pack_soc_pct
        return self.capacity_wh * max(weakest - self.reserve_pct, 0.0) / 100.0

    @property
    def room_wh(self) -> float:
        """Room below full, Wh."""
        return self.capacity_wh * (100.0 - self.soc_pct) / 100.0


class Circuit(StrictModel):
    """A breaker or phase that several devices share."""

    id: str = Field(min_length=1)
    max_w: float = Field(ge=0, le=MAX_POWER_W, description="The most power the devices on it may move together, W")


class HomeRequest(StrictModel):
    """Exactly one of ``discharge_w`` or ``charge_w`` (W >= 0): the home's battery request."""

    discharge_w: float | None = Field(None, ge=0, le=MAX_POWER_W)
    charge_w: float | None = Field(None, ge=0, le=MAX_POWER_W)

    @model_validator(mode="after")
    def _exactly_one_direction(self) -> "HomeRequest":
        if (self.discharge_w is None) == (self.charge_w is None):
            raise ValueError("give exactly one of discharge_w or charge_w")
        return self

    @property
    def signed_w(self) -> float:
        """The request per the sign convention: + discharge, - charge, W."""
        return self.discharge_w if self.discharge_w is not None else -float(self.charge_w or 0.0)


class HomeAllocateInput(StrictModel):
    """The whole input of one home decision."""

    settings: HomeSettings = Field(default_factory=HomeSettings)
    devices: list[DeviceState] = Field(min_length=1)
    circuits: list[Circuit] = Field(default_factory=list)
    request: HomeRequest
    cycle_s: float = Field(1.0, gt=0, le=MAX_TIME_S, description="Seconds since the previous decision (ramp limit)")

    @model_validator(mode="after")
    def _ids_are_consistent(self) -> "HomeAllocateInput":
        check_references(self.devices, self.circuits)
        return self


def field_error(loc: tuple, value: object, message: str) -> ValidationError:
    """A validation error located at ``loc`` (relative to the model that raises it), so the one-line message names
    that field and its value rather than the whole model."""
    return ValidationError.from_exception_data(
        "input", [InitErrorDetails(type=PydanticCustomError("value_error", message), loc=loc, input=value)]
    )


def check_references(devices: list, circuits: list, devices_field: str = "devices", circuits_field: str = "circuits") -> None:
    """Device and circuit ids are unique and every device's circuit names a circuit (errors name the field)."""
    for field, items in ((devices_field, devices), (circuits_field, circuits)):
        seen: set[str] = set()
        for i, item in enumerate(items):
            if item.id in seen:
                raise field_error((field, i, "id"), item.id, f"ids must be unique; {item.id!r} comes twice")
            seen.add(item.id)
    known = sorted(c.id for c in circuits)
    for i, d in enumerate(devices):
        if d.circuit is not None and d.circuit not in known:
            raise field_error((devices_field, i, "circuit"), d.circuit, f"names no circuit; circuits: {known}")
