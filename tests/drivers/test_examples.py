"""The per-vendor examples validate as [[devices]] and [meter] sections; bad entries name the field."""

from __future__ import annotations

import pytest

from socbal.drivers.registry import driver_config, open_driver
from socbal.errors import InputError
from socbal.meters.registry import meter_config
from socbal.tomlfile import read_toml
from tests.runtime.conftest import EXAMPLES


@pytest.mark.parametrize(
    ("name", "driver", "interval_s"),
    [("home_indevolt", "indevolt-http", 5), ("home_zendure", "zendure-http", 10), ("home_marstek", "marstek-modbus", 2)],
)
def test_vendor_examples_validate(name, driver, interval_s):
    raw = read_toml(EXAMPLES / f"{name}.toml", "home config")
    (entry,) = raw["devices"]
    cfg = driver_config(entry)
    assert cfg.driver == driver and cfg.pacing.min_write_interval_s == interval_s
    assert open_driver(cfg).config is cfg
    meter_config(raw["meter"])


def test_a_partial_pacing_table_keeps_the_driver_defaults():
    cfg = driver_config({"driver": "marstek-modbus", "host": "h", "pacing": {"deadband_w": 5}})
    assert cfg.pacing.deadband_w == 5 and cfg.pacing.keepalive_s == 30 and cfg.pacing.min_write_interval_s == 2


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"driver": "zendure-http", "host": "h"}, "serial"),
        ({"driver": "indevolt-http", "host": "h", "packs": 6}, "packs"),
        ({"driver": "marstek-modbus", "host": "h", "pacing": {"keepalive_s": 0}}, "pacing.keepalive_s"),
        ({"driver": "sonnen", "host": "h"}, "driver"),
    ],
)
def test_bad_entries_name_the_field(entry, field):
    with pytest.raises(InputError, match=field.replace(".", r"\.")):
        driver_config(entry)
