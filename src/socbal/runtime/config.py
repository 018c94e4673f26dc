"""The ``socbal run`` configuration (TOML), validated once at the edge.

Sections: ``[runtime]`` (period, telemetry age, watchdog, state database),
``[settings]`` (initial EMS settings; persisted changes win), ``[device]``
(dispatch: mode and AC/PV limits, as in a simulation scenario), ``[[packs]]``
(ids in register/topic order, capacity and hard power caps), ``link`` (which
adapter talks to the device), ``[modbus]`` with its register map, ``[mqtt]``
and ``[http]``. Relative paths resolve against the config file's folder.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import Field, ValidationError, model_validator

from socbal.ems.models import Settings, check_pack_ids
from socbal.errors import InputError, describe_validation_error, field_problems
from socbal.runtime.secrets import SecretFields
from socbal.scenario import DeviceSpec, PackPhysicsSpec
from socbal.tomlfile import read_toml
from socbal.validation import FilePath, StrictModel

RegisterType = Literal["u16", "s16", "u32", "s32"]


class RegisterSpec(StrictModel):
    """One value in holding registers: ``value = raw * scale`` (raw per ``type``; 32-bit types take two registers)."""

    address: int = Field(ge=0, le=65534, description="Register address (0-based; pack registers: offset in the pack block)")
    type: RegisterType = Field("u16", description="u16, s16, u32 or s32 (two's complement for signed)")
    scale: float = Field(1.0, gt=0, description="Engineering value per raw unit")

    @property
    def width(self) -> int:
        """Number of 16-bit registers the value takes."""
        return 2 if self.type.endswith("32") else 1


def _reg(address: int, type_: RegisterType = "u16", scale: float = 1.0) -> RegisterSpec:
    return RegisterSpec(address=address, type=type_, scale=scale)


class DeviceRegisters(StrictModel):
    """Device-wide registers (absolute addresses)."""

    pv_w: RegisterSpec = Field(default_factory=lambda: _reg(0))
    load_w: RegisterSpec = Field(default_factory=lambda: _reg(1))
    grid_on: RegisterSpec = Field(default_factory=lambda: _reg(2))
    watchdog_s: RegisterSpec = Field(default_factory=lambda: _reg(10), description="Written by the runtime: watchdog timeout, s")


class PackRegisters(StrictModel):
    """Per-pack registers (offsets in the pack's block at ``pack_base + index * pack_stride``)."""

    soc_pct: RegisterSpec = Field(default_factory=lambda: _reg(0, "u16", 0.1))
    power_w: RegisterSpec = Field(default_factory=lambda: _reg(1, "s16"))
    max_discharge_w: RegisterSpec = Field(default_factory=lambda: _reg(2))
    max_charge_w: RegisterSpec = Field(default_factory=lambda: _reg(3))
    online: RegisterSpec = Field(default_factory=lambda: _reg(4))
    counter: RegisterSpec = Field(default_factory=lambda: _reg(5), description="Telemetry counter: changes on every update")
    setpoint_w: RegisterSpec = Field(default_factory=lambda: _reg(10, "s32"), description="Written by the runtime")


class RegisterMap(StrictModel):
    """Where everything sits in the device's holding registers."""

    word_order: Literal["big", "little"] = Field("big", description="Word order of 32-bit values")
    device: DeviceRegisters = Field(default_factory=DeviceRegisters)
    pack_base: int = Field(100, ge=0, le=65000)
    pack_stride: int = Field(20, ge=1, le=1000)
    pack: PackRegisters = Field(default_factory=PackRegisters)

    @model_validator(mode="after")
    def _pack_fields_fit(self) -> "RegisterMap":
        for name, spec in self.pack:
            if spec.address + spec.width > self.pack_stride:
                raise ValueError(f"pack.{name} at offset {spec.address} does not fit in pack_stride {self.pack_stride}")
        return self

    def pack_address(self, index: int, spec: RegisterSpec) -> int:
        """Absolute address of a pack register."""
        return self.pack_base + index * self.pack_stride + spec.address


class ModbusConfig(StrictModel):
    """Modbus TCP connection to the device."""

    host: str = "127.0.0.1"
    port: int = Field(502, ge=1, le=65535)
    device_id: int = Field(1, ge=0, le=255, description="Modbus unit/device id")
    timeout_s: float = Field(1.0, gt=0, le=60)
    map: RegisterMap = Field(default_factory=RegisterMap)


#: The file fields of :class:`TlsConfig` (resolved against the config file's folder).
TLS_FILES = ("ca_file", "cert_file", "key_file")


class TlsConfig(StrictModel):
    """TLS for the MQTT connection."""

    ca_file: FilePath | None = Field(None, description="CA bundle; system CAs when omitted")
    cert_file: FilePath | None = Field(None, description="Client certificate (mutual TLS)")
    key_file: FilePath | None = Field(None, description="Client key (mutual TLS)")
    insecure: bool = Field(False, description="Skip host-name verification (testing only)")

    @model_validator(mode="after")
    def _key_has_a_certificate(self) -> Self:
        if self.key_file is not None and self.cert_file is None:
            raise ValueError("key_file needs cert_file (the client certificate the key belongs to)")
        return self


#: Makes a relative path relative to a config file's folder (absolute paths and None unchanged).
PathFix = Callable[[Path | None], Path | None]


class BrokerLogin(SecretFields):
    """Who socbal is on an MQTT broker and how it gets there: a user, its password (from an environment variable or a
    file, never in the config) and TLS. The one login of every MQTT connection: the runtime's and the home's
    ``[mqtt]``, a socbal-mqtt device of ``socbal run`` and of ``socbal emulate HOME.toml``, an MQTT meter."""

    username: str | None = Field(None, min_length=1, description="MQTT user (with password_env or password_file)")
    tls: TlsConfig | None = Field(None, description="TLS to the broker (CA, client certificate and key)")

    @model_validator(mode="after")
    def _password_has_a_user(self) -> Self:
        if self.username is None and (self.password_env is not None or self.password_file is not None):
            raise ValueError("password_env / password_file need a username (the broker would never see the password)")
        return self

    def login(self) -> dict[str, Any]:
        """The login's fields, to build another model's login from (e.g. :class:`MqttConfig`)."""
        return {name: getattr(self, name) for name in BrokerLogin.model_fields}

    def resolved(self, fix: PathFix) -> Self:
        """The same login with its password and TLS files resolved by ``fix``."""
        return self.model_copy(update={"password_file": fix(self.password_file), "tls": resolve_tls(self.tls, fix)})


class MqttConfig(BrokerLogin):
    """MQTT broker connection, topics and Home Assistant discovery."""

    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    client_id: str = "socbal-runtime"
    keepalive_s: int = Field(30, ge=5, le=3600)
    base_topic: str = Field("socbal/device1", min_length=1, pattern=r"^[^#+]+$")
    discovery: bool = Field(True, description="Publish Home Assistant MQTT discovery")
    discovery_prefix: str = "homeassistant"
    device_name: str = "socbal"
    max_payload_bytes: int = Field(4096, ge=256, le=1_000_000, description="Larger incoming messages are refused, bytes")
    settings_rate_per_s: float = Field(2.0, gt=0, le=1000, description="Settings messages accepted per second on average")
    settings_burst: int = Field(10, ge=1, le=10_000, description="Settings messages accepted in a burst")
    settings_token_env: str | None = Field(
        None, description="Environment variable holding a shared secret that settings messages must carry"
    )
    settings_token_file: FilePath | None = Field(None, description="File holding that shared secret")


class HttpConfig(StrictModel):
    """The small HTTP API."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535, description="0 picks a free port")
    token_env: str | None = Field(None, description="Environment variable holding the API token")
    token_file: FilePath | None = Field(None, description="File holding the API token")
    max_body_bytes: int = Field(65536, ge=1024, le=10_000_000, description="Larger request bodies are refused (413), bytes")
    max_response_bytes: int = Field(1_000_000, ge=10_000, le=100_000_000, description="Most event-log JSON per response, bytes")
    max_connections: int = Field(32, ge=1, le=10_000, description="Concurrent connections; more get 503")


class PackConfig(PackPhysicsSpec):
    """One pack as the runtime knows it, in the device's order (register block / topic); its DC-DC curve,
    resistance, voltage and standby draw (defaults as in a scenario) set how far it may go in one period."""

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_-]+$")
    capacity_wh: float = Field(gt=0, description="Usable capacity, Wh")
    max_discharge_w: float = Field(ge=0, description="Hard cap: never command more discharge than this, W")
    max_charge_w: float = Field(ge=0, description="Hard cap: never command more charge than this, W")


class EventLogLimits(StrictModel):
    """How the state database keeps its event log (the per-pack runtime's ``[runtime]`` and a home's ``[store]``)."""

    event_retention_days: float = Field(365.0, gt=0, le=36500, description="Events older than this are deleted, days")
    event_log_max_mb: float = Field(200.0, ge=1, le=1_000_000, description="Oldest events are deleted above this size, MB")
    housekeeping_s: float = Field(3600.0, ge=1, le=86400 * 7, description="How often retention runs, s")
    db_busy_timeout_s: float = Field(0.25, gt=0, le=60, description="Longest wait for a locked database per write try, s")


class RuntimeSection(EventLogLimits):
    """Timing, fail-safe and state."""

    period_s: float = Field(1.0, ge=0.05, le=60, description="Control period, s")
    max_telemetry_age_s: float = Field(5.0, gt=0, le=3600, description="Older telemetry puts the pack offline, s")
    watchdog_s: int = Field(10, ge=1, le=3600, description="Device falls back to setpoint 0 without a setpoint for this long, s")
    state_db: FilePath = Field(Path("socbal-state.sqlite"), description="SQLite file: settings and event log")
    reconnect_min_s: float = Field(0.5, gt=0, le=60, description="First retry delay after a lost connection, s")
    reconnect_max_s: float = Field(30.0, gt=0, le=3600, description="Longest retry delay (exponential backoff), s")
    setpoint_log_interval_s: float = Field(60.0, gt=0, description="Unchanged setpoints are logged at most this often, s")
    setpoint_log_deadband_w: float = Field(5.0, ge=0, description="A setpoint change above this is logged at once, W")
    startup_wait_s: float = Field(5.0, ge=0, le=600, description="At start, wait up to this long for the link, s")
    energy_persist_s: float = Field(
        10.0, ge=0, le=3600, description="Energy totals are saved (and then published) at most this often; 0: every cycle, s"
    )


class RuntimeConfig(StrictModel):
    """Everything ``socbal run`` needs."""

    name: str = "device1"
    runtime: RuntimeSection = Field(default_factory=RuntimeSection)
    settings: Settings = Field(default_factory=Settings)
    device: DeviceSpec = Field(default_factory=DeviceSpec)
    packs: list[PackConfig] = Field(min_length=1)
    link: Literal["modbus", "mqtt"] = Field("modbus", description="How the runtime talks to the device")
    modbus: ModbusConfig | None = None
    mqtt: MqttConfig | None = None
    http: HttpConfig = Field(default_factory=HttpConfig)

    @model_validator(mode="after")
    def _consistent(self) -> "RuntimeConfig":
        problems = check_pack_ids(self.pack_ids, self.settings)
        if problems:
            raise field_problems(problems)
        if self.link == "modbus" and self.modbus is None:
            raise ValueError("link = 'modbus' needs a [modbus] section")
        if self.link == "mqtt" and self.mqtt is None:
            raise ValueError("link = 'mqtt' needs an [mqtt] section")
        if self.runtime.reconnect_max_s < self.runtime.reconnect_min_s:
            raise ValueError("runtime.reconnect_max_s must be at least reconnect_min_s")
        return self

    @property
    def pack_ids(self) -> list[str]:
        """Pack ids in device order."""
        return [p.id for p in self.packs]


def path_fix(base_dir: Path) -> PathFix:
    """The :data:`PathFix` of a config file in ``base_dir``."""

    def fix(p: Path | None) -> Path | None:
        return p if p is None or p.is_absolute() else base_dir / p

    return fix


def resolve_tls(tls: TlsConfig | None, fix: PathFix) -> TlsConfig | None:
    """TLS settings with their CA, certificate and key files resolved by ``fix``."""
    return None if tls is None else tls.model_copy(update={k: fix(getattr(tls, k)) for k in TLS_FILES})


def resolve_services(mqtt: MqttConfig | None, http: HttpConfig, fix: PathFix) -> dict[str, Any]:
    """The ``[mqtt]`` and ``[http]`` sections with their secret and TLS files resolved (a ``model_copy`` update)."""
    updates: dict[str, Any] = {"http": http.model_copy(update={"token_file": fix(http.token_file)})}
    if mqtt is not None:
        updates["mqtt"] = mqtt.resolved(fix).model_copy(update={"settings_token_file": fix(mqtt.settings_token_file)})
    return updates


def _resolve_paths(cfg: RuntimeConfig, base_dir: Path) -> RuntimeConfig:
    """Make relative paths relative to the config file's folder."""
    fix = path_fix(base_dir)
    updates = {"runtime": cfg.runtime.model_copy(update={"state_db": fix(cfg.runtime.state_db)})}
    return cfg.model_copy(update={**updates, **resolve_services(cfg.mqtt, cfg.http, fix)})


def config_from_dict(raw: dict, source: str = "config", base_dir: Path | None = None) -> RuntimeConfig:
    """Validate a runtime config given as a dict; raises :class:`InputError` with one line."""
    try:
        cfg = RuntimeConfig.model_validate(raw)
    except ValidationError as err:
        raise InputError(f"{source}: {describe_validation_error(err)}") from None
    return _resolve_paths(cfg, base_dir or Path.cwd())


def load_config(path: str | Path) -> RuntimeConfig:
    """Read and validate a runtime config TOML file."""
    path = Path(path)
    return config_from_dict(read_toml(path, "config"), source=str(path), base_dir=path.parent)
