"""A simulation scenario: device, packs, EMS settings, profiles and run settings (validated, from TOML)."""

from __future__ import annotations

import logging
import re
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal, Union

import numpy as np
from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from socbal.ems.models import MAX_ENERGY_WH, MAX_POWER_W, Settings, check_pack_ids
from socbal.errors import InputError, describe_validation_error, field_problems
from socbal.profiles.grid import GridSpec
from socbal.profiles.simple import ConstantProfile, SyntheticClearSkyProfile, SyntheticHouseholdProfile
from socbal.profiles.specs import (
    BdewLoadSpec,
    ClearSkyPvSpec,
    FileLoadSpec,
    FilePvSpec,
    PvlibPvSpec,
    SeriesLoadSpec,
    SeriesPvSpec,
    StochasticLoadSpec,
)
from socbal.scenario.fleet import FleetSpec
from socbal.scenario.studies import CompareSpec, LifetimeSpec, SweepSpec, TariffSpec
from socbal.tomlfile import read_toml
from socbal.validation import DateTime, FloatPair, StrictModel

LoadProfile = Annotated[
    Union[ConstantProfile, SyntheticHouseholdProfile, BdewLoadSpec, StochasticLoadSpec, FileLoadSpec, SeriesLoadSpec],
    Field(discriminator="kind"),
]
PvProfile = Annotated[
    Union[ConstantProfile, SyntheticClearSkyProfile, PvlibPvSpec, ClearSkyPvSpec, FilePvSpec, SeriesPvSpec],
    Field(discriminator="kind"),
]

#: A power limit above 0 but below this, W, looks like kW (a limit of 0 switches the path off and is fine).
KW_LOOKING_W = 10.0


def _warn_kw_looking_w(field: str, value_w: float) -> None:
    """One warning line when a power limit of ``value_w`` W looks like kW."""
    if 0 < value_w < KW_LOOKING_W:
        log.warning("%s: %g W: is this kW? then give %g", field, value_w, value_w * 1000)


#: Smallest nameplate capacity accepted, Wh; below ``KWH_LOOKING_WH`` a capacity gets a "is this kWh?" warning.
MIN_CAPACITY_WH = 10.0
KWH_LOOKING_WH = 100.0

#: What a scenario name may be: it names the default results folder (``results/<name>``), so never a path.
NAME_PATTERN = re.compile(r"[^./\\\s\x00-\x1f\x7f](?:[^/\\\x00-\x1f\x7f]{0,98}[^/\\\s\x00-\x1f\x7f])?")

log = logging.getLogger("socbal.scenario")


def check_folder_name(name: str) -> str:
    """``name`` if it can name a results folder ``results/<name>`` (never a path, hidden or empty); else ValueError."""
    if not NAME_PATTERN.fullmatch(name):
        raise ValueError(
            "must be 1-100 characters, no '/', '\\' or control characters, not starting with '.' or a space "
            "and not ending with a space (it names the results folder results/<name>)"
        )
    return name


#: A DC-DC module's efficiency over its load: (share of rated power 0-1, efficiency 0-1) points.
DEFAULT_DCDC_CURVE = ((0.0, 0.80), (0.05, 0.90), (0.2, 0.955), (0.5, 0.97), (1.0, 0.96))


#: Memory per recorded row and pack (or the device), bytes: the records and the result tables built from them.
RECORD_BYTES_PER_ROW = 400
#: Most memory the records of one run may take, bytes.
MAX_RECORD_BYTES = 2e9


class PackPhysicsSpec(StrictModel):
    """How a pack and its DC-DC module convert and draw power: shared by scenarios and the runtime's pack config."""

    dcdc_curve: list[FloatPair] = Field(
        default_factory=lambda: list(DEFAULT_DCDC_CURVE),
        description="DC-DC efficiency curve: [load share 0-1, efficiency 0-1] points, load ascending",
    )
    standby_w: float = Field(2.0, ge=0, le=100, description="Pack's own standby draw (BMS), always from the pack, W")
    internal_resistance_ohm: float = Field(0.02, ge=0, le=10, description="Pack internal resistance, ohm")
    nominal_voltage_v: float = Field(51.2, gt=0, le=1000, description="Pack nominal voltage, V")

    @field_validator("dcdc_curve")
    @classmethod
    def _curve_is_sane(cls, curve: list[tuple[float, float]]) -> list[tuple[float, float]]:
        loads = [p[0] for p in curve]
        if len(curve) < 1 or loads != sorted(loads) or len(set(loads)) != len(loads):
            raise ValueError("needs at least one point, with strictly ascending load shares")
        for load, eff in curve:
            if not (0 <= load <= 1.5) or not (0.3 <= eff <= 1.0):
                raise ValueError(f"point ({load}, {eff}) out of range: load share 0-1.5, efficiency 0.3-1.0")
        return curve

    def curve_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The DC-DC curve as ``(load share, efficiency)`` arrays."""
        return np.array([x for x, _ in self.dcdc_curve]), np.array([y for _, y in self.dcdc_curve])


class PackSpec(PackPhysicsSpec):
    """One battery pack behind its own DC-DC module (the main unit's internal battery included)."""

    id: str = Field(min_length=1)
    capacity_wh: float = Field(
        1920.0, gt=0, le=MAX_ENERGY_WH, description="Nameplate capacity, Wh (below 10 Wh is no storage pack)"
    )
    soh_pct: float = Field(100.0, gt=0, le=100, description="State of health: usable share of capacity, %")
    soc_pct: float = Field(50.0, ge=0, le=100, description="Initial true SOC, %")
    max_charge_w: float = Field(1200.0, ge=0, le=MAX_POWER_W, description="DC-DC charge limit, W")
    max_discharge_w: float = Field(1200.0, ge=0, le=MAX_POWER_W, description="DC-DC discharge limit, W")
    sensor_offset_w: float = Field(0.0, ge=-100, le=100, description="Current-sensor offset, as W at nominal voltage")
    sensor_gain_error: float = Field(0.0, ge=-0.2, le=0.2, description="Current-sensor gain error (0.01 = reads 1 % high)")
    sensor_deadband_w: float = Field(0.0, ge=0, le=100, description="Measured power below this reads as 0 W")
    soc_estimate_error_pct: float = Field(0.0, ge=-50, le=50, description="Initial error of the estimated SOC, % points")
    believed_capacity_wh: float | None = Field(
        None,
        gt=0,
        le=MAX_ENERGY_WH,
        description="Usable capacity the BMS and the EMS believe, Wh (SOC estimate and weights); default: the true usable "
        "capacity (capacity_wh x soh_pct). A pack that aged more than its BMS knows has less true capacity than this.",
    )

    @field_validator("capacity_wh")
    @classmethod
    def _capacity_in_wh(cls, value: float) -> float:
        if value < MIN_CAPACITY_WH:
            raise ValueError(f"must be at least {MIN_CAPACITY_WH:g} Wh; {value:g} looks like kWh: give {value * 1000:g}")
        return value

    @property
    def usable_capacity_wh(self) -> float:
        """Capacity the pack can actually store, Wh (nameplate times SOH)."""
        return self.capacity_wh * self.soh_pct / 100.0

    @property
    def ems_capacity_wh(self) -> float:
        """Usable capacity the BMS and the EMS believe, Wh (``believed_capacity_wh``, else the true one)."""
        return self.believed_capacity_wh if self.believed_capacity_wh is not None else self.usable_capacity_wh


class DeviceSpec(StrictModel):
    """The main unit: how it dispatches, its limits and its own consumption."""

    mode: Literal["follow-load", "fixed-output"] = Field(
        "follow-load", description="follow-load: output follows the household load (zero export); fixed-output: constant output"
    )
    fixed_output_w: float = Field(0.0, ge=0, le=MAX_POWER_W, description="AC output in fixed-output mode, W")
    ac_output_limit_w: float = Field(800.0, ge=0, le=MAX_POWER_W, description="AC output limit, W")
    pv_input_limit_w: float = Field(2000.0, ge=0, le=MAX_POWER_W, description="PV input limit, W")
    ac_charge_limit_w: float = Field(
        1200.0, ge=0, le=MAX_POWER_W, description="AC (grid) charging limit, W; 0 disables backup charging"
    )
    aux_power_module: bool = Field(False, description="Main unit has an AC auxiliary power module")
    standby_w: float = Field(6.0, ge=0, le=200, description="Main unit deep-standby draw, W")
    active_w: float = Field(10.0, ge=0, le=500, description="Main unit self-consumption while operating, W")


class RunSpec(StrictModel):
    """Time settings of a run."""

    start: DateTime = Field(datetime(2026, 6, 1), description="Start time of the run")
    step_s: float = Field(60.0, ge=1, le=3600, description="Time step, s (1 s to 1 h)")
    horizon_h: float = Field(24.0, gt=0, le=24 * 366, description="Length of the run, h (up to a year)")
    record_every_s: float | None = Field(
        None, gt=0, le=366 * 24 * 3600.0, description="Recording interval, s (up to a year); default every step"
    )

    @model_validator(mode="after")
    def _whole_steps(self) -> "RunSpec":
        steps = self.horizon_h * 3600.0 / self.step_s
        if abs(steps - round(steps)) > 1e-6 or round(steps) < 1:
            whole = max(1, round(steps)) * self.step_s / 3600.0
            raise field_problems(
                [f"horizon_h: {self.horizon_h:g} h is not a whole number of steps of {self.step_s:g} s (nearest: {whole:g} h)"]
            )
        if self.record_every_s is not None:
            per_record = self.record_every_s / self.step_s
            if self.record_every_s < self.step_s or abs(per_record - round(per_record)) > 1e-6:
                nearest = max(1, round(per_record)) * self.step_s
                raise field_problems(
                    [
                        f"record_every_s: {self.record_every_s:g} s is not a whole number of steps of {self.step_s:g} s "
                        f"(nearest: {nearest:g} s)"
                    ]
                )
        return self

    @property
    def n_steps(self) -> int:
        """Number of steps in the run."""
        return max(1, int(round(self.horizon_h * 3600.0 / self.step_s)))

    @property
    def steps_per_record(self) -> int:
        """Steps aggregated into one recorded row."""
        return min(self.n_steps, max(1, int(round((self.record_every_s or self.step_s) / self.step_s))))

    @property
    def n_records(self) -> int:
        """Recorded rows of the run."""
        return -(-self.n_steps // self.steps_per_record)


class Scenario(StrictModel):
    """Everything a simulation needs."""

    name: str = Field("scenario", description="Name of the run; the default results folder is results/<name>")
    description: str = ""
    run: RunSpec = Field(default_factory=RunSpec)
    settings: Settings = Field(default_factory=Settings)
    device: DeviceSpec = Field(default_factory=DeviceSpec)
    main: PackSpec = Field(default_factory=lambda: PackSpec(id="main"), description="The main unit's internal battery")
    packs: list[PackSpec] = Field(default_factory=list, description="Expansion packs")
    load: LoadProfile = Field(default_factory=lambda: ConstantProfile(power_w=0.0), description="Household load")
    pv: PvProfile = Field(default_factory=lambda: ConstantProfile(power_w=0.0), description="PV generation")
    grid: GridSpec = Field(default_factory=GridSpec)
    compare: CompareSpec | None = Field(None, description="Settings of socbal compare (series and parallel runs)")
    fleet: FleetSpec | None = Field(None, description="Distributions of a fleet's devices (socbal fleet)")
    lifetime: LifetimeSpec | None = Field(None, description="Settings of socbal lifetime (fade model)")
    sweep: SweepSpec | None = Field(None, description="Combinations of socbal sweep (packs, PV, strategies)")
    tariff: TariffSpec | None = Field(None, description="Grid prices, to put energy into money (socbal sweep)")

    @field_validator("name")
    @classmethod
    def _name_is_a_folder_name(cls, name: str, info: ValidationInfo) -> str:
        """A user's scenario (read with a ``base_dir``, from a file or a dict) names its default results folder
        ``results/<name>``: never a path, a hidden or an empty name (internal copies, a home's devices, name none)."""
        return check_folder_name(name) if info.context is not None else name

    @model_validator(mode="before")
    @classmethod
    def _main_standby_default(cls, raw: object) -> object:
        """The main unit's battery draws no standby of its own by default: the spec's 6 W for the main unit
        (``device.standby_w``) is the whole unit's, its battery included (each expansion pack draws its 2 W)."""
        if isinstance(raw, dict):
            main = raw.get("main")
            if main is None:
                raw = {**raw, "main": {"id": "main", "standby_w": 0.0}}
            elif isinstance(main, dict) and "standby_w" not in main:
                raw = {**raw, "main": {**main, "standby_w": 0.0}}
        return raw

    @model_validator(mode="after")
    def _consistent(self) -> "Scenario":
        fields = ["main.id", *(f"packs[{i}].id" for i in range(len(self.packs)))]
        problems = check_pack_ids([p.id for p in self.all_packs], self.settings, fields)
        if problems:
            raise field_problems(problems)
        self.grid.check_steps(self.run.step_s)
        record_bytes = self.run.n_records * (len(self.all_packs) + 1) * RECORD_BYTES_PER_ROW
        if record_bytes > MAX_RECORD_BYTES:
            fits_s = self.run.step_s * -(-self.run.n_steps * (len(self.all_packs) + 1) * RECORD_BYTES_PER_ROW // MAX_RECORD_BYTES)
            raise ValueError(
                f"run.record_every_s: recording every {self.run.steps_per_record * self.run.step_s:g} s over "
                f"{self.run.horizon_h:g} h needs about {record_bytes / 1e9:.1f} GB; record every {fits_s:g} s or more "
                f"(at most {MAX_RECORD_BYTES / 1e9:g} GB)"
            )
        return self

    @model_validator(mode="after")
    def _plausible_packs(self) -> "Scenario":
        """Warn (one line each on stderr) about pack values that look like the wrong unit, a grid outage after the
        run's end and a fixed output the device's output limit caps."""
        for where, p in [("main", self.main), *((f"packs[{i}]", p) for i, p in enumerate(self.packs))]:
            if p.capacity_wh < KWH_LOOKING_WH:
                log.warning("%s.capacity_wh: %g Wh: is this kWh? then give %g", where, p.capacity_wh, p.capacity_wh * 1000)
            for name in ("soc_pct", "soh_pct"):
                value = getattr(p, name)
                if 0 < value < 1:
                    log.warning("%s.%s: %g %%: is this a fraction? then give %g (percent)", where, name, value, value * 100)
            for name in ("max_charge_w", "max_discharge_w"):
                _warn_kw_looking_w(f"{where}.{name}", getattr(p, name))
        horizon_h = self.run.n_steps * self.run.step_s / 3600.0
        for k, (start_h, end_h) in enumerate(self.grid.outages_h):
            if start_h >= horizon_h - 1e-9:
                log.warning(
                    "grid.outages_h[%d]: [%g, %g] h starts at or after the run's end (%g h): it never happens in this run",
                    k,
                    start_h,
                    end_h,
                    horizon_h,
                )
        device = self.device
        for name in ("ac_output_limit_w", "pv_input_limit_w", "ac_charge_limit_w"):
            _warn_kw_looking_w(f"device.{name}", getattr(device, name))
        if device.mode == "fixed-output" and device.fixed_output_w > device.ac_output_limit_w:
            log.warning(
                "device.fixed_output_w: %g W is above ac_output_limit_w (%g W): the output is capped at %g W",
                device.fixed_output_w,
                device.ac_output_limit_w,
                device.ac_output_limit_w,
            )
        return self

    @property
    def all_packs(self) -> list[PackSpec]:
        """The main unit's battery first, then the expansion packs."""
        return [self.main, *self.packs]


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario TOML file; raises :class:`InputError` with a one-line message."""
    path = Path(path)
    return scenario_from_dict(read_toml(path, "scenario"), source=str(path), base_dir=path.parent)


def scenario_from_dict(raw: dict, source: str = "scenario", base_dir: Path | None = None) -> Scenario:
    """Validate a scenario given as a dict; relative file paths resolve against ``base_dir``. A home scenario (with
    ``[home]``) is refused by name, not field by field."""
    if "home" in raw:
        raise InputError(
            f"{source}: home: a home scenario (with [home]) where one device's scenario is expected: "
            "socbal simulate, fleet and emulate run homes; compare, sweep and lifetime take one device"
        )
    try:
        return Scenario.model_validate(raw, context={"base_dir": base_dir or Path.cwd()})
    except ValidationError as err:
        raise InputError(f"{source}: {describe_validation_error(err, raw=raw)}") from None
