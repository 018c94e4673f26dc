"""Home Assistant discovery payloads, checked against HA's own rules (tests/runtime/ha_schema.py, HA 2025.4.4)."""

from __future__ import annotations

import pytest
import voluptuous as vol
from hypothesis import given
from hypothesis import strategies as st

from socbal.runtime import discovery
from socbal.runtime.mqtt import Topics, discovery_messages

from .conftest import runtime_config
from .ha_schema import energy_dashboard_problems, sensor_state_problem, validate_discovery

NODE = discovery.Node.create("homeassistant", "dev 1/ä", "socbal", "DC-DC storage EMS", ("socbal/dev1/runtime/status",))


def test_every_builder_gives_a_payload_home_assistant_accepts():
    entities = [
        discovery.soc_sensor(NODE, "p1_soc", "p1 SOC", "s/p1/soc", expire_after_s=30, extra_availability=("s/p1/avail",)),
        discovery.power_sensor(NODE, "p1_power", "p1 power", "s/p1/power_w"),
        discovery.energy_sensor(NODE, "battery_in_energy", "Battery energy in", "s/energy/in"),
        discovery.binary_sensor(NODE, "p1_online", "p1 online", "s/p1/online", "connectivity"),
        discovery.binary_sensor(NODE, "p1_fault", "p1 fault", "s/p1/fault", "problem"),
        discovery.number(NODE, "backup_reserve", "Backup reserve", "s/reserve/set", "s/reserve", 5, 100, 1, unit="%"),
        discovery.select(NODE, "strategy", "Strategy", "s/strategy/set", "s/strategy", ["spec", "equal"]),
    ]
    for topic, payload in entities:
        config = validate_discovery(topic, payload)
        assert config["device"]["identifiers"] == ["socbal_dev_1__"]  # unsafe characters replaced
        assert config["origin"]["name"] == "socbal" and config["device"]["sw_version"] == config["origin"]["sw_version"]
        assert config["availability_mode"] == "all"
    assert entities[0][1]["availability"][1]["topic"] == "s/p1/avail"
    assert entities[3][1]["entity_category"] == "diagnostic"
    assert entities[5][1]["entity_category"] == entities[6][1]["entity_category"] == "config"
    assert "entity_category" not in entities[1][1]


def test_energy_sensor_is_what_the_energy_dashboard_takes_for_a_battery():
    _, payload = discovery.energy_sensor(NODE, "battery_out_energy", "Battery energy out", "s/energy/out")
    config = validate_discovery(*discovery.energy_sensor(NODE, "battery_out_energy", "Battery energy out", "s/energy/out"))
    assert (config["device_class"], config["unit_of_measurement"], config["state_class"]) == ("energy", "kWh", "total_increasing")
    assert energy_dashboard_problems(payload, "12.345") == []
    assert energy_dashboard_problems(payload, "-1") == ["entity_negative_state: -1.0"]
    _, power = discovery.power_sensor(NODE, "battery_power", "Battery power", "s/power")
    assert any("device_class" in p for p in energy_dashboard_problems(power, "5"))


@pytest.mark.parametrize(
    "change, why",
    [
        ({"unit_of_measurement": "Wh/s"}, "unit"),
        ({"state_class": "measurement"}, "state class"),
        ({"device_class": "energi"}, "device_class"),
        ({"entity_category": "settings"}, "entity_category"),
        ({"state_topic": "a/+b"}, "wildcard"),
        ({"origin": {"sw_version": "1"}}, "name"),
        ({"device": {"name": "x"}}, "identifier"),
        ({"availability": [{"topic": "a/#/b"}]}, "wildcard"),
        ({"availability_topic": "x/status"}, "exclusion"),
        ({"unit_of_measurment": "kWh"}, "extra keys"),
    ],
)
def test_the_schema_copy_refuses_what_home_assistant_refuses(change, why):
    topic, payload = discovery.energy_sensor(NODE, "e", "E", "s/e")
    with pytest.raises(vol.Invalid, match=why):
        validate_discovery(topic, {**payload, **change})


def test_settings_refuse_bad_ranges_and_wildcard_command_topics():
    topic, payload = discovery.number(NODE, "r", "R", "s/r/set", "s/r", 5, 100, 1)
    with pytest.raises(vol.Invalid, match="max must be"):
        validate_discovery(topic, {**payload, "min": 200})
    with pytest.raises(vol.Invalid, match="[Ww]ildcards"):
        validate_discovery(topic, {**payload, "command_topic": "s/+/set"})
    with pytest.raises(vol.Invalid):
        validate_discovery(*discovery.select(NODE, "s", "S", "s/s/set", "s/s", []))


@given(st.text(min_size=1, max_size=40))
def test_any_name_gives_config_topics_and_unique_ids_home_assistant_matches(name):
    node = discovery.Node.create("homeassistant", name, name, "m", ("s/status",))
    topic, payload = discovery.power_sensor(node, f"{name}_power", name, "s/p")
    config = validate_discovery(topic, payload)
    assert config["unique_id"].startswith(node.node_id) and config["name"] == name


def test_a_device_reached_through_another_names_it_as_via_device():
    member = discovery.Node.create("homeassistant", "home_dev2", "dev2", "m", ("s/status",), via=NODE)
    config = validate_discovery(*discovery.soc_sensor(member, "soc", "SOC", "s/soc"))
    assert config["device"]["via_device"] == NODE.node_id and config["device"]["identifiers"] == ["socbal_home_dev2"]


def test_numeric_sensors_need_a_finite_number_as_state():
    _, payload = discovery.power_sensor(NODE, "p", "P", "s/p")
    assert sensor_state_problem(payload, "-250") is None
    assert sensor_state_problem(payload, "nan") is not None and sensor_state_problem(payload, "off") is not None


@pytest.mark.parametrize("commands, grid", [(True, False), (False, True)])
def test_the_runtime_announces_grid_entities_only_when_the_device_reports_grid_power(tmp_path, commands, grid):
    cfg = runtime_config(tmp_path, link="mqtt", mqtt_port=1883)
    msgs = dict(discovery_messages(cfg, Topics("test/dev"), commands=commands, grid=grid))
    for topic, payload in msgs.items():
        validate_discovery(topic, payload)
    ids = {p["unique_id"].removeprefix("socbal_test_") for p in msgs.values()}
    assert {"battery_power", "battery_in_energy", "battery_out_energy", "main_power", "p1_fault", "p1_online"} <= ids
    assert ({"grid_power", "grid_import_energy", "grid_export_energy"} <= ids) == grid
    assert ("backup_reserve" in ids) == ("strategy" in ids) == commands
