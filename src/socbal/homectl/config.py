"""The home config of ``socbal run`` (TOML with ``[[devices]]``), validated once at the edge.

Sections: ``[home]`` (the home decision's settings, the grid target and the control
period; all changeable at run time), ``[meter]`` (kind and its settings, see
:mod:`socbal.meters`), ``[[devices]]`` (each: ``driver`` and that driver's fields, see
:mod:`socbal.drivers`, plus the facts the decision needs that the protocol does not
report: capacity, reserve, limits, circuit, latency), ``[[circuits]]``, ``[fail_safe]``,
``[store]`` (state database), ``[http]`` and ``[mqtt]`` (as for one device). Relative
paths resolve against the config file's folder. Every error is one line naming the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from socbal.drivers.indevolt_http import IndevoltConfig
from socbal.drivers.marstek_modbus import MarstekConfig
from socbal.drivers.socbal_modbus import SocbalModbusConfig
from socbal.drivers.socbal_mqtt import SocbalMqttConfig
from socbal.drivers.zendure_http import ZendureConfig
from socbal.ems.models import MAX_ENERGY_WH, MAX_POWER_W
from socbal.errors import InputError, describe_validation_error
from socbal.home.models import Circuit, HomeSettings, check_references, field_error
from socbal.meters.http_meters import HomeWizardConfig, ShellyConfig
from socbal.meters.mqtt_meter import MqttMeterConfig
from socbal.runtime.config import EventLogLimits, HttpConfig, MqttConfig, PathFix, path_fix, resolve_services
from socbal.tomlfile import read_toml
from socbal.validation import FilePath, StrictModel


class HomeSection(HomeSettings):
    """``[home]``: how the home splits its request (:class:`HomeSettings`), what it aims for, how often it decides."""

    grid_target_w: float = Field(0.0, ge=-MAX_POWER_W, le=MAX_POWER_W, description="Grid power aimed for, W (+ import)")
    period_s: float = Field(2.0, ge=0.2, le=60, description="Control period: one decision per period, s")

    def decision_settings(self) -> HomeSettings:
        """The home decision's own settings."""
        return HomeSettings.model_validate({k: getattr(self, k) for k in HomeSettings.model_fields})


class DeviceFacts(StrictModel):
    """What the home decision needs to know of a device that its protocol does not report."""

    capacity_wh: float = Field(gt=0, le=MAX_ENERGY_WH, description="Usable capacity of all its batteries, Wh")
    reserve_pct: float | None = Field(
        None, ge=0, le=100, description="Reserve, % SOC; default: what the device reports (Indevolt, Zendure), else 10"
    )
    max_discharge_w: float | None = Field(None, ge=0, le=MAX_POWER_W, description="Cap on discharge, W (below the model's)")
    max_charge_w: float | None = Field(None, ge=0, le=MAX_POWER_W, description="Cap on charge, W (below the model's)")
    efficient_discharge_w: float | None = Field(
        None,
        ge=0,
        le=MAX_POWER_W,
        description="Discharge power where its converters are most efficient, W: socbal fills it this far before the "
        "next device gets power; default its rating; 0: none, the request is shared by usable energy",
    )
    efficient_charge_w: float | None = Field(None, ge=0, le=MAX_POWER_W, description="The same for charging, W")
    circuit: str | None = Field(None, min_length=1, description="Id of the [[circuits]] entry it is on")
    latency_s: float = Field(
        3.0,
        ge=0,
        le=120,
        description="How long after a write its telemetry and the meter may disagree (report echo, meter delay), s: "
        "no decision on a meter reading younger than that",
    )


class IndevoltDevice(IndevoltConfig, DeviceFacts):
    """An Indevolt device in a home."""


class ZendureDevice(ZendureConfig, DeviceFacts):
    """A Zendure SolarFlow in a home."""


class MarstekDevice(MarstekConfig, DeviceFacts):
    """A Marstek Venus in a home."""


class CapacityFromPacks(DeviceFacts):
    """A device whose ``[[devices.packs]]`` are configured: its capacity defaults to theirs."""

    @model_validator(mode="before")
    @classmethod
    def _capacity_from_packs(cls, raw: Any) -> Any:
        packs = raw.get("packs") if isinstance(raw, dict) else None
        if isinstance(packs, list) and "capacity_wh" not in raw:
            total = sum(p.get("capacity_wh", 0) for p in packs if isinstance(p, dict))
            if isinstance(total, int | float) and total > 0:
                raw = {**raw, "capacity_wh": float(total)}
        return raw


class SocbalModbusDevice(SocbalModbusConfig, CapacityFromPacks):
    """A socbal device (its own register map) in a home; its capacity defaults to its packs'."""


class SocbalMqttDevice(SocbalMqttConfig, CapacityFromPacks):
    """A socbal device (its own MQTT topics) in a home; its capacity defaults to its packs'."""


HomeDevice = IndevoltDevice | ZendureDevice | MarstekDevice | SocbalModbusDevice | SocbalMqttDevice
DEVICE_CLASSES: dict[str, type[HomeDevice]] = {
    "indevolt-http": IndevoltDevice,
    "zendure-http": ZendureDevice,
    "marstek-modbus": MarstekDevice,
    "socbal-modbus": SocbalModbusDevice,
    "socbal-mqtt": SocbalMqttDevice,
}


class FailSafe(StrictModel):
    """``[fail_safe]``: what the controller does when the meter goes stale or a device does not follow."""

    stale_meter: Literal["ramp-to-zero", "hand-back"] = Field(
        "ramp-to-zero",
        description="No fresh meter reading: command every device to 0 W, or hand each back to its own mode (never hold)",
    )
    follow_ratio: float = Field(0.05, gt=0, lt=1, description="A device delivering under this share of its command ...")
    follow_timeout_s: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="... for this long, s (judged at every decision from its latency plus home.follow_s after its "
        "command on), does not follow; counted in time, so faster decisions do not exclude sooner",
    )
    follow_min_w: float = Field(100.0, ge=0, le=MAX_POWER_W, description="Commands below this are not judged, W")
    exclude_s: float = Field(300.0, gt=0, le=86400, description="A device that does not follow is left out this long, s")
    near_reserve_pct: float = Field(
        5.0, ge=0, le=100, description="Within this of its reserve (or of full) a device stopping is expected: not excluded, %"
    )
    offline_after: int = Field(2, ge=1, le=100, description="Failed reads in a row before a device counts as offline")
    telemetry_max_age_s: float = Field(
        15.0, gt=0, le=3600, description="A device whose last good reading is older than this counts as offline, s"
    )

    @model_validator(mode="before")
    @classmethod
    def _no_follow_cycles(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and "follow_cycles" in raw:
            raise field_error(
                ("follow_cycles",),
                raw["follow_cycles"],
                "is replaced by follow_timeout_s (seconds a device may deliver under follow_ratio before it is left "
                "out; default 10): a count of decisions came sooner as decisions got faster",
            )
        return raw


class StoreSection(EventLogLimits):
    """``[store]``: the SQLite state database (run-time settings and event log)."""

    path: FilePath = Field(Path("socbal-home.sqlite"), description="SQLite file (relative to the config file)")
    setpoint_log_interval_s: float = Field(60.0, gt=0, description="Unchanged setpoints are logged at most this often, s")
    setpoint_log_deadband_w: float = Field(25.0, ge=0, description="A setpoint change above this is logged at once, W")


class HomeRunConfig(StrictModel):
    """Everything ``socbal run`` needs for a home."""

    name: str = Field("home", min_length=1, pattern=r"^[A-Za-z0-9_-]+$")
    home: HomeSection = Field(default_factory=HomeSection)
    meter: ShellyConfig | HomeWizardConfig | MqttMeterConfig
    devices: list[IndevoltDevice | ZendureDevice | MarstekDevice | SocbalModbusDevice | SocbalMqttDevice] = Field(
        min_length=1, max_length=16
    )
    circuits: list[Circuit] = Field(default_factory=list)
    fail_safe: FailSafe = Field(default_factory=FailSafe)
    store: StoreSection = Field(default_factory=StoreSection)
    http: HttpConfig = Field(default_factory=HttpConfig)
    mqtt: MqttConfig | None = None

    @model_validator(mode="after")
    def _ids(self) -> "HomeRunConfig":
        check_references(self.devices, self.circuits)
        self._own_topics()
        return self

    def _own_topics(self) -> None:
        """Each socbal-mqtt device has a base topic of its own on its broker, not the home's ``[mqtt]`` one (whose
        ``runtime/status`` says ``offline`` when the home stops: the device would stop with it)."""
        taken: dict[tuple[str, int, str], str] = {}
        if self.mqtt is not None:
            taken[(self.mqtt.host, self.mqtt.port, self.mqtt.base_topic.rstrip("/"))] = "the home's own [mqtt]"
        for i, d in enumerate(self.devices):
            if not isinstance(d, SocbalMqttDevice):
                continue
            key = (d.host, d.port, d.base_topic.rstrip("/"))
            if key in taken:
                raise field_error(
                    ("devices", i, "base_topic"), d.base_topic, f"is taken by {taken[key]} on that broker; give each its own"
                )
            taken[key] = f"device {d.id!r}"

    @property
    def device_ids(self) -> list[str]:
        """Device ids in config order."""
        return [d.id for d in self.devices]


METER_CLASSES: dict[str, type[ShellyConfig] | type[HomeWizardConfig] | type[MqttMeterConfig]] = {
    "shelly-pro-3em": ShellyConfig,
    "homewizard-p1": HomeWizardConfig,
    "mqtt": MqttMeterConfig,
}


def _tagged(raw: object, where: str, tag: str, classes: dict[str, Any], defaults: dict | None = None) -> Any:
    """One table validated by the class its ``tag`` field names (errors say ``where.field``, not the union's tag)."""
    if not isinstance(raw, dict):
        raise InputError(f"{where}: value {raw!r} is not allowed: it must be a table")
    name = raw.get(tag)
    cls = classes.get(name) if isinstance(name, str) else None
    if cls is None:
        shown = "missing" if name is None else f"value {name!r} is not allowed"
        raise InputError(f"{where}.{tag}: {shown}: use one of {', '.join(classes)}")
    try:
        return cls.model_validate({**(defaults or {}), **raw})
    except ValidationError as err:
        raise InputError(describe_validation_error(err, where)) from None


def _resolve_device(device: HomeDevice, fix: PathFix) -> HomeDevice:
    """A device entry's secret and TLS files against the config file's folder."""
    if isinstance(device, SocbalMqttDevice):
        return device.resolved(fix)
    if isinstance(device, IndevoltDevice):
        return device.model_copy(update={"password_file": fix(device.password_file)})
    return device


def _resolve(cfg: HomeRunConfig, base: Path) -> HomeRunConfig:
    """Relative paths against the config file's folder."""
    fix = path_fix(base)
    updates: dict[str, Any] = {
        "store": cfg.store.model_copy(update={"path": fix(cfg.store.path)}),
        "devices": [_resolve_device(d, fix) for d in cfg.devices],
    }
    if isinstance(cfg.meter, MqttMeterConfig):  # its broker's password and TLS files
        updates["meter"] = cfg.meter.model_copy(update={"broker": cfg.meter.broker.resolved(fix)})
    return cfg.model_copy(update={**updates, **resolve_services(cfg.mqtt, cfg.http, fix)})


def is_home_config(raw: dict) -> bool:
    """A runtime config with ``[[devices]]`` is a home config; one with ``[[packs]]`` drives one device."""
    return "devices" in raw


def home_config_from_dict(raw: dict, source: str = "config", base_dir: Path | None = None) -> HomeRunConfig:
    """Validate a home config given as a dict; :class:`InputError` with one line naming the field."""
    try:
        devices = raw.get("devices")
        if not isinstance(devices, list) or not devices:
            raise InputError("devices: missing: give at least one [[devices]] entry")
        parsed = [_tagged(d, f"devices[{i}]", "driver", DEVICE_CLASSES, {"id": f"device{i + 1}"}) for i, d in enumerate(devices)]
        if "meter" not in raw:
            raise InputError("meter: missing: give a [meter] section (kind = shelly-pro-3em, homewizard-p1 or mqtt)")
        meter = _tagged(raw["meter"], "meter", "kind", METER_CLASSES)
        try:
            cfg = HomeRunConfig.model_validate({**raw, "devices": parsed, "meter": meter})
        except ValidationError as err:
            raise InputError(describe_validation_error(err, raw=raw)) from None
    except InputError as err:
        raise InputError(f"{source}: {err}") from None
    return _resolve(cfg, base_dir or Path.cwd())


def load_home_config(path: str | Path) -> HomeRunConfig:
    """Read and validate a home config TOML file."""
    path = Path(path)
    return home_config_from_dict(read_toml(path, "config"), source=str(path), base_dir=path.parent)
