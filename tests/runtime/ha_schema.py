"""Home Assistant's MQTT discovery and Energy dashboard rules, restated with voluptuous for the tests.

Source: the ``homeassistant`` 2025.4.4 wheel from PyPI (the newest release that pip resolves;
it needs Python >= 3.13, so it is read, not installed: it also pins urllib3 < 2, requests and
cryptography against this project's environment). Files and what is taken from each:

- ``components/mqtt/discovery.py``: the config topic pattern (``TOPIC_MATCHER``);
- ``components/mqtt/schemas.py``: availability (single topic or list with ``availability_mode``),
  ``device`` (at least one identifier), ``origin`` (``name`` required, ``support_url`` an URL),
  the common entity keys (``entity_category``, ``unique_id``, ``icon``, ...);
- ``components/mqtt/config.py``: ``qos``/``encoding``; read-only (``state_topic`` required) and
  read-write (``command_topic`` required) platforms;
- ``components/mqtt/util.py``: subscribe/publish topic rules (no wildcard in a publish topic,
  ``+``/``#`` only as whole levels, no control characters);
- ``components/mqtt/sensor.py``, ``binary_sensor.py``, ``number.py``, ``select.py``: each platform's keys
  and checks (``options`` only for ``enum`` sensors, ``min <= max``, ``step >= 0.001``);
- ``components/sensor/const.py``: device classes, state classes, and (for the device classes
  socbal uses) ``DEVICE_CLASS_UNITS`` and ``DEVICE_CLASS_STATE_CLASSES``;
- ``components/sensor/__init__.py``: a sensor with a unit, state class, precision or numeric
  device class must carry a finite number;
- ``components/energy/validate.py`` (``_async_validate_usage_stat``, used for a battery's
  ``stat_energy_from`` / ``stat_energy_to``): device class ``energy``, unit in
  ``ENERGY_USAGE_UNITS``, a state class, ``last_reset`` for ``measurement``, a numeric,
  non-negative state.

One deliberate difference: Home Assistant's discovery schemas drop unknown keys silently
(``extra=REMOVE_EXTRA``), so a misspelt key would be lost without a word; these schemas refuse
unknown keys, so that every key socbal sends is one Home Assistant reads.
HA only warns (instead of refusing) on a unit or state class that does not fit the device
class; here both refuse, as HA says they will stop working.
"""

from __future__ import annotations

import math
import re
from urllib.parse import urlparse

import voluptuous as vol

HA_VERSION = "2025.4.4"

TOPIC_MATCHER = re.compile(r"(?P<component>\w+)/(?:(?P<node_id>[a-zA-Z0-9_-]+)/)?(?P<object_id>[a-zA-Z0-9_-]+)/config")

SENSOR_DEVICE_CLASSES = frozenset(
    "apparent_power aqi area atmospheric_pressure battery blood_glucose_concentration carbon_dioxide carbon_monoxide "
    "conductivity current data_rate data_size date distance duration energy energy_distance energy_storage enum "
    "frequency gas humidity illuminance irradiance moisture monetary nitrogen_dioxide nitrogen_monoxide nitrous_oxide "
    "ozone ph pm1 pm10 pm25 power power_factor precipitation precipitation_intensity pressure reactive_power "
    "signal_strength sound_pressure speed sulphur_dioxide temperature timestamp volatile_organic_compounds "
    "volatile_organic_compounds_parts voltage volume volume_flow_rate volume_storage water weight wind_direction "
    "wind_speed".split()
)
NON_NUMERIC_SENSOR_DEVICE_CLASSES = frozenset({"date", "enum", "timestamp"})
STATE_CLASSES = frozenset({"measurement", "measurement_angle", "total", "total_increasing"})
ENERGY_UNITS = frozenset("J kJ MJ GJ mWh Wh kWh MWh GWh TWh cal kcal Mcal Gcal".split())
#: DEVICE_CLASS_UNITS, for the device classes socbal uses (a payload with another one fails: add its row here).
DEVICE_CLASS_UNITS: dict[str, frozenset[str]] = {
    "battery": frozenset({"%"}),
    "power": frozenset({"mW", "W", "kW", "MW", "GW", "TW"}),
    "energy": ENERGY_UNITS,
}
#: DEVICE_CLASS_STATE_CLASSES, for the same device classes.
DEVICE_CLASS_STATE_CLASSES: dict[str, frozenset[str]] = {
    "battery": frozenset({"measurement"}),
    "power": frozenset({"measurement"}),
    "energy": frozenset({"total", "total_increasing"}),
}
BINARY_SENSOR_DEVICE_CLASSES = frozenset(
    "battery battery_charging carbon_monoxide cold connectivity door garage_door gas heat light lock moisture motion "
    "moving occupancy opening plug power presence problem running safety smoke sound tamper update vibration window".split()
)
NUMBER_MODES = frozenset({"auto", "box", "slider"})
ENTITY_CATEGORIES = frozenset({"config", "diagnostic"})
#: Energy dashboard: units a battery's energy sensors may have (ENERGY_USAGE_UNITS).
ENERGY_DASHBOARD_UNITS = frozenset({"GJ", "kWh", "MJ", "MWh", "Wh"})


def _string(value: object) -> str:
    """HA's ``cv.string``: anything but None, a list or a dict, as text."""
    if value is None or isinstance(value, (list, dict)):
        raise vol.Invalid("expected a string")
    return str(value)


def _topic(value: object) -> str:
    text = _string(value)
    if not text:
        raise vol.Invalid("MQTT topic must not be empty")
    if len(text.encode()) > 65535:
        raise vol.Invalid("MQTT topic longer than 65535 bytes")
    if any(
        c <= "\x1f" or "\x7f" <= c <= "\x9f" or "\ufdd0" <= c <= "\ufdef" or (ord(c) & 0xFFFF) in (0xFFFE, 0xFFFF) for c in text
    ):
        raise vol.Invalid("MQTT topic has a control or non-character")
    return text


def subscribe_topic(value: object) -> str:
    text = _topic(value)
    levels = text.split("/")
    if any("+" in level and level != "+" for level in levels):
        raise vol.Invalid("single-level wildcard must occupy a whole level")
    if "#" in text and (levels[-1] != "#" or text.count("#") > 1):
        raise vol.Invalid("multi-level wildcard must be the last level")
    return text


def publish_topic(value: object) -> str:
    text = _topic(value)
    if "+" in text or "#" in text:
        raise vol.Invalid("wildcards cannot be used in topic names")
    return text


def _url(schemes: frozenset[str]):
    def check(value: object) -> str:
        text = str(value)
        if urlparse(text).scheme not in schemes:
            raise vol.Invalid("invalid url")
        return vol.Schema(vol.Url())(text)

    return check


def _icon(value: object) -> str:
    if ":" not in str(value):
        raise vol.Invalid('icons are written "prefix:name"')
    return str(value)


positive_int = vol.All(vol.Coerce(int), vol.Range(min=0))
qos = vol.All(vol.Coerce(int), vol.In([0, 1, 2]))


def _has_identifier(device: dict) -> dict:
    if device.get("identifiers") or device.get("connections"):
        return device
    raise vol.Invalid("device needs at least one value in identifiers or connections")


DEVICE = vol.All(
    vol.Schema(
        {
            vol.Optional("identifiers", default=list): vol.All(lambda v: v if isinstance(v, list) else [v], [_string]),
            vol.Optional("connections", default=list): [vol.All(vol.Length(2), [_string])],
            **{vol.Optional(k): _string for k in ("manufacturer", "model", "model_id", "name", "hw_version")},
            **{vol.Optional(k): _string for k in ("serial_number", "sw_version", "via_device", "suggested_area")},
            vol.Optional("configuration_url"): _url(frozenset({"http", "https", "homeassistant"})),
        }
    ),
    _has_identifier,
)
ORIGIN = vol.Schema(
    {
        vol.Required("name"): _string,
        vol.Optional("sw_version"): _string,
        vol.Optional("support_url"): _url(frozenset({"http", "https", "homeassistant"})),
    }
)
_AVAILABILITY_ITEM = vol.Schema(
    {
        vol.Required("topic"): subscribe_topic,
        vol.Optional("payload_available", default="online"): _string,
        vol.Optional("payload_not_available", default="offline"): _string,
        vol.Optional("value_template"): _string,
    }
)
COMMON = {
    vol.Exclusive("availability_topic", "availability"): subscribe_topic,
    vol.Exclusive("availability", "availability"): [_AVAILABILITY_ITEM],
    vol.Optional("availability_mode", default="latest"): vol.In(["all", "any", "latest"]),
    vol.Optional("availability_template"): _string,
    vol.Optional("payload_available", default="online"): _string,
    vol.Optional("payload_not_available", default="offline"): _string,
    vol.Optional("device"): DEVICE,
    vol.Optional("entity_picture"): _url(frozenset({"http", "https"})),
    vol.Optional("origin"): ORIGIN,
    vol.Optional("enabled_by_default", default=True): bool,
    vol.Optional("entity_category"): vol.In(ENTITY_CATEGORIES),
    vol.Optional("icon"): _icon,
    vol.Optional("json_attributes_topic"): subscribe_topic,
    vol.Optional("json_attributes_template"): _string,
    vol.Optional("object_id"): _string,
    vol.Optional("unique_id"): _string,
    vol.Optional("qos", default=0): qos,
    vol.Optional("encoding", default="utf-8"): _string,
    vol.Optional("name"): vol.Any(_string, None),
}
READ_ONLY = {vol.Required("state_topic"): subscribe_topic, vol.Optional("value_template"): _string}
READ_WRITE = {
    vol.Required("command_topic"): publish_topic,
    vol.Optional("optimistic", default=False): bool,
    vol.Optional("retain", default=False): bool,
    vol.Optional("state_topic"): subscribe_topic,
}


def _sensor_rules(config: dict) -> dict:
    """sensor.py's checks plus the unit and state class that fit the device class (sensor/const.py)."""
    if "last_reset_value_template" in config and config.get("state_class") != "total":
        raise vol.Invalid("last_reset_value_template needs state class total")
    if config.get("options") is not None:
        if not config["options"] or config.get("state_class") or config.get("unit_of_measurement"):
            raise vol.Invalid("options: not empty, and not with a state class or unit")
        if config.get("device_class") != "enum":
            raise vol.Invalid("options only with device class enum")
    device_class = config.get("device_class")
    if device_class is None:
        return config
    if device_class not in DEVICE_CLASS_UNITS:
        raise vol.Invalid(f"device class {device_class}: its units are not in this test copy of HA's rules; add them")
    unit, state_class = config.get("unit_of_measurement"), config.get("state_class")
    if unit is not None and unit not in DEVICE_CLASS_UNITS[device_class]:
        raise vol.Invalid(f"unit {unit!r} is not valid with device class {device_class}")
    if state_class is not None and state_class not in DEVICE_CLASS_STATE_CLASSES[device_class]:
        raise vol.Invalid(f"state class {state_class} is impossible with device class {device_class}")
    return config


def _number_rules(config: dict) -> dict:
    if config["min"] > config["max"]:
        raise vol.Invalid("max must be >= min")
    return config


SCHEMAS: dict[str, vol.Schema] = {
    "sensor": vol.All(
        vol.Schema(
            {
                **COMMON,
                **READ_ONLY,
                vol.Optional("device_class"): vol.Any(vol.In(SENSOR_DEVICE_CLASSES), None),
                vol.Optional("expire_after"): positive_int,
                vol.Optional("force_update", default=False): bool,
                vol.Optional("last_reset_value_template"): _string,
                vol.Optional("options"): list,
                vol.Optional("suggested_display_precision"): positive_int,
                vol.Optional("state_class"): vol.Any(vol.In(STATE_CLASSES), None),
                vol.Optional("unit_of_measurement"): vol.Any(_string, None),
            }
        ),
        _sensor_rules,
    ),
    "binary_sensor": vol.Schema(
        {
            **COMMON,
            **READ_ONLY,
            vol.Optional("device_class"): vol.Any(vol.In(BINARY_SENSOR_DEVICE_CLASSES), None),
            vol.Optional("expire_after"): positive_int,
            vol.Optional("force_update", default=False): bool,
            vol.Optional("off_delay"): positive_int,
            vol.Optional("payload_off", default="OFF"): _string,
            vol.Optional("payload_on", default="ON"): _string,
        }
    ),
    "number": vol.All(
        vol.Schema(
            {
                **COMMON,
                **READ_WRITE,
                vol.Optional("command_template"): _string,
                vol.Optional("device_class"): vol.Any(_string, None),
                vol.Optional("max", default=100.0): vol.Coerce(float),
                vol.Optional("min", default=1.0): vol.Coerce(float),
                vol.Optional("mode", default="auto"): vol.In(NUMBER_MODES),
                vol.Optional("payload_reset", default="None"): _string,
                vol.Optional("step", default=1.0): vol.All(vol.Coerce(float), vol.Range(min=1e-3)),
                vol.Optional("unit_of_measurement"): vol.Any(_string, None),
                vol.Optional("value_template"): _string,
            }
        ),
        _number_rules,
    ),
    "select": vol.Schema(
        {
            **COMMON,
            **READ_WRITE,
            vol.Optional("command_template"): _string,
            vol.Required("options"): vol.All(list, vol.Length(min=1), [_string]),
            vol.Optional("value_template"): _string,
        }
    ),
}


def validate_discovery(topic: str, payload: dict, prefix: str = "homeassistant") -> dict:
    """The config HA would build from one discovery message; ``vol.Invalid`` when HA would refuse it."""
    if not topic.startswith(f"{prefix}/"):
        raise vol.Invalid(f"{topic}: not under the discovery prefix {prefix}")
    match = TOPIC_MATCHER.fullmatch(topic[len(prefix) + 1 :])
    if match is None:
        raise vol.Invalid(f"{topic}: not a discovery config topic")
    component = match["component"]
    if component not in SCHEMAS:
        raise vol.Invalid(f"{topic}: component {component} has no schema in this test copy")
    return SCHEMAS[component](payload)


def numeric_state_expected(config: dict) -> bool:
    """Whether HA requires a number as this sensor's state (sensor/__init__.py)."""
    if config.get("device_class") in NON_NUMERIC_SENSOR_DEVICE_CLASSES:
        return False
    keys = ("state_class", "unit_of_measurement", "suggested_display_precision")
    return any(config.get(k) is not None for k in keys) or config.get("device_class") is not None


def sensor_state_problem(config: dict, state: str) -> str | None:
    """Why HA would refuse ``state`` (a payload on the state topic) for this sensor, or None."""
    if not numeric_state_expected(config):
        return None
    try:
        value = float(state)
    except ValueError:
        return f"non-numeric state {state!r}"
    return None if math.isfinite(value) else f"non-finite state {state!r}"


def energy_dashboard_problems(config: dict, state: str) -> list[str]:
    """What the Energy dashboard would report for this sensor as a battery's energy in or out (validate.py)."""
    problems = []
    try:
        value = float(state)
    except ValueError:
        problems.append(f"entity_state_non_numeric: {state!r}")
    else:
        if value < 0:
            problems.append(f"entity_negative_state: {value}")
    if config.get("device_class") != "energy":
        problems.append(f"entity_unexpected_device_class: {config.get('device_class')}")
    elif config.get("unit_of_measurement") not in ENERGY_DASHBOARD_UNITS:
        problems.append(f"entity_unexpected_unit_energy: {config.get('unit_of_measurement')}")
    state_class = config.get("state_class")
    if state_class not in ("measurement", "total", "total_increasing"):
        problems.append(f"entity_unexpected_state_class: {state_class}")
    if state_class == "measurement":
        problems.append("entity_state_class_measurement_no_last_reset")
    return problems
