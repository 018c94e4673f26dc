"""A home scenario: one meter, a household load and several devices, each a one-device scenario with its
dynamics (validated, from TOML; DESIGN.md "Home scenario (TOML) — the contract").

A scenario whose top level has ``[home]`` is a home scenario; ``[[devices]]`` hold, inline, the sections
of a one-device scenario (``settings``, ``device``, ``main``, ``packs``, ``pv``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

from pydantic import Field, ValidationError, field_validator, model_validator

from socbal.ems.kernel import STRATEGY_CODES as EMS_STRATEGY_CODES
from socbal.ems.models import MAX_POWER_W, Settings, check_pack_ids
from socbal.errors import InputError, describe_validation_error, field_problems
from socbal.home.fleetspec import HomeFleetSpec
from socbal.home.models import Circuit, HomeSettings, check_references, field_error
from socbal.profiles.simple import ConstantProfile
from socbal.runtime.config import BrokerLogin, path_fix
from socbal.scenario import DeviceSpec, PackSpec, RunSpec, Scenario
from socbal.scenario.models import LoadProfile, PvProfile, check_folder_name
from socbal.validation import StrictModel

#: How a device shares its power between its packs: a socbal EMS strategy, or a model of a vendor's firmware.
FirmwareName = Literal[
    "spec",
    "soc-proportional",
    "droop",
    "reserve-aware",
    "capacity-proportional",
    "equal",
    "priority",
    "stop-at-first-empty",
    "reserve-on-average",
]
#: Vendor models: ``stop-at-first-empty`` shares by capacity and stops the whole device when its first pack reaches
#: the reserve; ``reserve-on-average`` shares by capacity, checks the reserve on the device's average SOC and lets
#: each pack run to empty.
VENDOR_FIRMWARE = ("stop-at-first-empty", "reserve-on-average")
assert set(get_args(FirmwareName)) == set(EMS_STRATEGY_CODES) | set(VENDOR_FIRMWARE)
#: The vendor protocol ``socbal emulate HOME.toml`` serves a device over (the simulator ignores it).
ProtocolName = Literal["indevolt", "zendure", "marstek", "socbal-modbus", "socbal-mqtt"]
#: Protocols of socbal's own device: per-pack setpoints, the controller's driver shares between the packs.
PER_PACK_PROTOCOLS = ("socbal-modbus", "socbal-mqtt")
#: Protocols whose device reports a serial number.
SERIAL_PROTOCOLS = ("indevolt", "zendure")


def protocol_models() -> dict[str, list[str]]:
    """The device models each vendor protocol knows (from its driver)."""
    from socbal.drivers import indevolt_http, marstek_modbus, zendure_http

    return {
        "indevolt": list(indevolt_http.MAX_POWER_W),
        "zendure": list(zendure_http.MODEL_LIMITS_W),
        "marstek": list(marstek_modbus.MAPS),
        "socbal-modbus": [],  # socbal's own register map, one model
        "socbal-mqtt": [],  # socbal's own MQTT schema, one model
    }


class BrokerSpec(BrokerLogin):
    """``[devices.mqtt]`` of a ``socbal-mqtt`` device: the broker socbal emulate publishes it on, its topics, and its
    login there (``username``, ``password_env`` / ``password_file``, ``[devices.mqtt.tls]``; relative files against the
    scenario's folder)."""

    host: str = Field("127.0.0.1", min_length=1, description="MQTT broker address")
    port: int = Field(1883, ge=1, le=65535, description="MQTT broker port")
    base_topic: str = Field(
        min_length=1,
        pattern=r"^[^#+]*[^#+/][^#+]*$",
        description="The device's base topic: <base>/device/packs/<id>/telemetry, <base>/device/setpoints, ...",
    )
    keepalive_s: int = Field(10, ge=5, le=3600, description="MQTT keep-alive; the broker sends the last will after ~1.5x, s")

    @property
    def base(self) -> str:
        """The base topic without a trailing slash (as the topics use it)."""
        return self.base_topic.rstrip("/")


class HomeSpec(HomeSettings):
    """The ``[home]`` table: the home's name, what it aims for at the meter, and how it splits its request."""

    name: str = Field("home", description="Name of the home; the default results folder is results/<name>")
    description: str = ""
    grid_target_w: float = Field(
        0.0, ge=-MAX_POWER_W, le=MAX_POWER_W, description="Grid power the controller aims for at the meter, W (+ import)"
    )

    _name_is_a_folder_name = field_validator("name")(check_folder_name)


class MeterOutage(StrictModel):
    """A window in which the meter delivers no reading (readings taken in it are lost)."""

    start_s: float = Field(ge=0, le=366 * 24 * 3600.0, description="Seconds after the run's start")
    duration_s: float = Field(gt=0, le=366 * 24 * 3600.0, description="How long it lasts, s")


class MeterSpec(StrictModel):
    """The smart meter: how often a reading comes, how old it is when it arrives, when it is stale."""

    period_s: float = Field(2.0, gt=0, le=3600, description="A new reading every period_s, s")
    latency_s: float = Field(1.0, ge=0, le=3600, description="Age of a reading when it arrives, s")
    stale_after_s: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="A reading older than this is stale: the controller writes 0 W to every device (fail-safe), s",
    )
    outages: list[MeterOutage] = Field(default_factory=list, description="Windows in which the meter delivers no reading")

    @model_validator(mode="after")
    def _stale_after_a_period(self) -> "MeterSpec":
        if self.stale_after_s <= self.period_s + self.latency_s:
            raise field_error(
                ("stale_after_s",),
                self.stale_after_s,
                f"must be above period_s + latency_s ({self.period_s + self.latency_s:g} s), or every reading is stale",
            )
        return self


class HomeDeviceSpec(StrictModel):
    """One storage device of the home: a one-device scenario's sections plus its dynamics."""

    id: str = Field(min_length=1)
    circuit: str | None = Field(None, description="Id of the circuit it is on")
    firmware: FirmwareName = Field(
        "spec", description="How it shares between its packs: a socbal strategy, or stop-at-first-empty, reserve-on-average"
    )
    actuator_latency_s: float = Field(2.0, ge=0, le=3600, description="From a written setpoint to its effect, s")
    ramp_w_per_s: float = Field(1000.0, gt=0, le=MAX_POWER_W, description="How fast the device follows its setpoint, W/s")
    min_write_interval_s: float = Field(0.0, ge=0, le=3600, description="The controller writes it no faster, s")
    settings: Settings = Field(default_factory=Settings)
    device: DeviceSpec = Field(default_factory=DeviceSpec)
    main: PackSpec = Field(default_factory=lambda: PackSpec(id="main"), description="The main unit's internal battery")
    packs: list[PackSpec] = Field(default_factory=list, description="Expansion packs")
    pv: PvProfile = Field(default_factory=lambda: ConstantProfile(power_w=0.0), description="PV on its own input")
    protocol: ProtocolName | None = Field(None, description="Vendor protocol socbal emulate serves it over")
    port: int | None = Field(None, ge=1, le=65535, description="TCP port socbal emulate serves it on")
    model: str | None = Field(None, min_length=1, description="Vendor model, e.g. sf2000, solarflow-800, venus-e-v3")
    serial: str | None = Field(None, min_length=1, max_length=64, description="Serial number the emulated device reports")
    mqtt: BrokerSpec | None = Field(None, description="socbal-mqtt: the broker and base topic socbal emulate publishes it on")

    @model_validator(mode="after")
    def _consistent(self) -> "HomeDeviceSpec":
        fields = ["main.id", *(f"packs[{i}].id" for i in range(len(self.packs)))]
        problems = check_pack_ids([p.id for p in self.all_packs], self.settings, fields)
        if problems:  # they were computed and dropped: the device's one-device scenario failed later, unnamed
            raise field_problems(problems)
        if self.protocol is None:
            for name in ("port", "model", "serial", "mqtt"):
                value = getattr(self, name)
                if value is not None:
                    shown = value.model_dump(exclude_unset=True) if isinstance(value, StrictModel) else value
                    raise field_error((name,), shown, f"only with a protocol ({', '.join(get_args(ProtocolName))})")
        else:
            self._check_protocol_fields()
        if self.device.mode != "follow-load":
            raise field_error(("device", "mode"), self.device.mode, "in a home every device follows the home's setpoints")
        if self.firmware in EMS_STRATEGY_CODES and self.settings.strategy not in ("spec", self.firmware):
            raise field_error(
                ("settings", "strategy"), self.settings.strategy, f"the firmware {self.firmware!r} already sets the strategy"
            )
        return self

    def _check_protocol_fields(self) -> None:
        """The fields ``socbal emulate`` serves this protocol with, and none it would ignore."""
        assert self.protocol is not None
        served_by_broker = self.protocol == "socbal-mqtt"
        if served_by_broker and self.port is not None:
            raise field_error(("port",), self.port, "not for socbal-mqtt: it is served on its broker (mqtt.host, mqtt.port)")
        if served_by_broker and self.mqtt is None:
            raise field_error(
                ("mqtt",), None, "a device with protocol 'socbal-mqtt' needs its broker: mqtt = { base_topic = ... }"
            )
        if not served_by_broker and self.mqtt is not None:
            shown = self.mqtt.model_dump(exclude_unset=True)
            raise field_error(("mqtt",), shown, f"only with protocol socbal-mqtt, not {self.protocol}")
        if not served_by_broker and self.port is None:
            raise field_error(("port",), None, f"a device with protocol {self.protocol!r} needs its port (1..65535)")
        models = protocol_models()[self.protocol]
        if self.model is not None and self.model not in models:
            allowed = f"use {', '.join(models)}" if models else "it has no models"
            raise field_error(("model",), self.model, f"not a model of {self.protocol}: {allowed}")
        if self.serial is not None and self.protocol not in SERIAL_PROTOCOLS:
            raise field_error(
                ("serial",), self.serial, f"{self.protocol} reports no serial number (only {', '.join(SERIAL_PROTOCOLS)})"
            )
        if self.protocol in PER_PACK_PROTOCOLS and "firmware" in self.model_fields_set:
            raise field_error(
                ("firmware",),
                self.firmware,
                f"not for {self.protocol}: socbal's own device takes per-pack setpoints, the controller shares its packs",
            )

    @property
    def all_packs(self) -> list[PackSpec]:
        """The main unit's battery first, then the expansion packs."""
        return [self.main, *self.packs]

    @property
    def ems_strategy(self) -> str:
        """The EMS strategy its firmware shares with: its own, or capacity shares for a vendor model."""
        return "capacity-proportional" if self.firmware in VENDOR_FIRMWARE else self.firmware

    def one_device(self, run: RunSpec) -> Scenario:
        """This device as a one-device scenario (its per-pack tables and summary use that shape)."""
        return Scenario(
            name=self.id,
            run=run,
            settings=self.settings.model_copy(update={"strategy": self.ems_strategy}),
            device=self.device,
            main=self.main,
            packs=self.packs,
            pv=self.pv,
        )


class HomeScenario(StrictModel):
    """Everything a home simulation needs."""

    run: RunSpec = Field(default_factory=RunSpec)
    home: HomeSpec = Field(default_factory=HomeSpec)
    meter: MeterSpec = Field(default_factory=MeterSpec)
    load: LoadProfile = Field(default_factory=lambda: ConstantProfile(power_w=0.0), description="Household load")
    circuits: list[Circuit] = Field(default_factory=list)
    devices: list[HomeDeviceSpec] = Field(min_length=1)
    fleet: HomeFleetSpec | None = Field(None, description="How the homes of socbal fleet differ (ignored by simulate)")

    @model_validator(mode="after")
    def _references(self) -> "HomeScenario":
        check_references(self.devices, self.circuits)
        used: dict[int, str] = {}
        for i, d in enumerate(self.devices):
            if d.port is not None and d.port in used:
                message = f"already the port of device {used[d.port]!r}: one port per device"
                raise field_error(("devices", i, "port"), d.port, message)
            if d.port is not None:
                used[d.port] = d.id
        topics: dict[tuple[str, int, str], str] = {}
        for i, d in enumerate(self.devices):
            if d.mqtt is None:
                continue
            where = (d.mqtt.host, d.mqtt.port, d.mqtt.base)
            if where in topics:
                message = f"already the base topic of device {topics[where]!r} on that broker: one base topic per device"
                raise field_error(("devices", i, "mqtt", "base_topic"), d.mqtt.base_topic, message)
            topics[where] = d.id
        if self.meter.period_s < self.run.step_s:
            raise field_error(("meter", "period_s"), self.meter.period_s, f"must be at least run.step_s ({self.run.step_s:g})")
        return self

    @property
    def name(self) -> str:
        """The home's name (results folder, report)."""
        return self.home.name


def is_home(raw: dict) -> bool:
    """Whether a scenario read from TOML is a home scenario (it has ``[home]``)."""
    return "home" in raw


def home_scenario_from_dict(raw: dict, source: str = "scenario", base_dir: Path | None = None) -> HomeScenario:
    """Validate a home scenario given as a dict; relative file paths resolve against ``base_dir``. A live home config
    (``socbal run``'s: its devices name a ``driver``) is refused in one line saying so, not as a dozen unknown fields."""
    devices = raw.get("devices")
    if isinstance(devices, list) and any(isinstance(d, dict) and "driver" in d for d in devices):
        raise InputError(
            f"{source}: this is a `socbal run` config (its [[devices]] name a driver), not a home scenario: run it with "
            f"`socbal run {source}`; a home scenario gives each device its packs (e.g. examples/home_two_units.toml)"
        )
    try:
        scenario = HomeScenario.model_validate(raw, context={"base_dir": base_dir or Path.cwd()})
    except ValidationError as err:
        raise InputError(f"{source}: {describe_validation_error(err)}") from None
    fix = path_fix(base_dir or Path.cwd())
    devices = [d if d.mqtt is None else d.model_copy(update={"mqtt": d.mqtt.resolved(fix)}) for d in scenario.devices]
    return scenario.model_copy(update={"devices": devices})
