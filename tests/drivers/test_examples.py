"""The per-vendor home examples validate; bad [[devices]] entries name the field."""

from __future__ import annotations

import pytest

from socbal.drivers.registry import driver_config, open_driver
from socbal.errors import InputError
from socbal.homectl.config import load_home_config
from tests.runtime.conftest import EXAMPLES


@pytest.mark.parametrize(
    ("name", "driver", "interval_s"),
    [
        ("home_indevolt", "indevolt-http", 5),
        ("home_zendure", "zendure-http", 10),
        ("home_marstek", "marstek-modbus", 2),
        ("home_socbal_mqtt", "socbal-mqtt", 1),
    ],
)
def test_vendor_examples_validate(name, driver, interval_s):
    cfg = load_home_config(EXAMPLES / f"{name}.toml")
    (entry,) = cfg.devices
    assert entry.driver == driver and entry.pacing.min_write_interval_s == interval_s
    assert entry.host == "127.0.0.1" and cfg.meter.host == "127.0.0.1"  # type: ignore[union-attr]
    assert open_driver(entry).config is entry


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
