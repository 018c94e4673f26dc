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
