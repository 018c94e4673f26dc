"""The runtime config applies the EMS's pack-id rule (socbal.ems.models.check_pack_ids) with short errors."""

import pytest

from socbal.errors import InputError
from socbal.runtime.config import config_from_dict

PACK = {"capacity_wh": 1920, "max_discharge_w": 1200, "max_charge_w": 1200}


def _config(ids: list[str], **settings) -> dict:
    return {"modbus": {"host": "127.0.0.1"}, "settings": settings, "packs": [{"id": i, **PACK} for i in ids]}


def test_repeated_pack_id_names_the_field_and_the_value():
    with pytest.raises(InputError) as err:
        config_from_dict(_config(["main", "p1", "p1"]), source="rt.toml")
    assert str(err.value) == "rt.toml: packs[2].id: value 'p1' is not allowed: pack ids must be unique, packs[1].id has it"


def test_priority_must_name_every_pack():
    with pytest.raises(InputError, match=r"^rt.toml: settings.priority: value \['main'\] is not allowed"):
        config_from_dict(_config(["main", "p1"], priority=["main"]), source="rt.toml")
    assert config_from_dict(_config(["main", "p1"], priority=["p1", "main"])).settings.priority == ["p1", "main"]


@pytest.mark.parametrize(
    ("mqtt", "message"),
    [
        ({"password_env": "PW"}, r"^rt.toml: mqtt: value .* is not allowed: password_env / password_file need a username"),
        ({"username": ""}, r"^rt.toml: mqtt.username: value '' is not allowed"),
        ({"username": "u", "tls": {"cafile": "ca.pem"}}, r"^rt.toml: mqtt.tls.cafile: unknown field"),
    ],
)
def test_the_mqtt_login_is_refused_in_one_line_when_the_broker_could_not_use_it(mqtt, message):
    """The login model of every MQTT connection (socbal.runtime.config.BrokerLogin) in the runtime's [mqtt]."""
    raw = {**_config(["main"]), "link": "mqtt", "mqtt": mqtt}
    with pytest.raises(InputError, match=message):
        config_from_dict(raw, source="rt.toml")
    assert config_from_dict({**raw, "mqtt": {"username": "u", "password_env": "PW"}}).mqtt is not None
