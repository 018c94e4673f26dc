"""The home config: every section validated at the edge, one line naming the field; `socbal run` tells a home from a
one-device config."""

from __future__ import annotations

import copy

import pytest
from typer.testing import CliRunner

from socbal.cli import app
from socbal.errors import InputError
from socbal.homectl.config import home_config_from_dict, is_home_config, load_home_config
from tests.runtime.conftest import EXAMPLES

BASE = {
    "meter": {"kind": "shelly-pro-3em", "host": "127.0.0.1"},
    "devices": [
        {"driver": "indevolt-http", "host": "127.0.0.1", "capacity_wh": 3840},
        {"driver": "zendure-http", "host": "127.0.0.1", "serial": "SN1", "capacity_wh": 1920, "circuit": "A"},
    ],
    "circuits": [{"id": "A", "max_w": 2400}],
}


def test_defaults_ids_and_driver_pacing():
    cfg = home_config_from_dict(copy.deepcopy(BASE))
    assert cfg.device_ids == ["device1", "device2"]
    assert [d.pacing.min_write_interval_s for d in cfg.devices] == [5.0, 10.0]  # each driver's documented default
    assert cfg.home.decision_settings().strategy == "socbal" and cfg.home.grid_target_w == 0.0
    assert cfg.fail_safe.stale_meter == "ramp-to-zero" and cfg.fail_safe.follow_timeout_s == 10.0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r["devices"][0].update(capacity_wh=-1), "devices[0].capacity_wh: value -1"),
        (lambda r: r["devices"][1].pop("capacity_wh"), "devices[1].capacity_wh: missing"),
        (lambda r: r["devices"][0].update(driver="sonnen"), "devices[0].driver: value 'sonnen' is not allowed: use one of"),
        (lambda r: r["devices"][1].update(poort=80), "devices[1].poort: unknown field"),
        (lambda r: r["devices"][1].update(model="solarflow-9000"), "devices[1].model: value 'solarflow-9000'"),
        (lambda r: r["devices"][1].update(circuit="B"), "devices[1].circuit: value 'B' is not allowed: names no circuit"),
        (lambda r: r["devices"][1].update(id="device1"), "devices[1].id: value 'device1' is not allowed: ids must be unique"),
        (lambda r: r.update(home={"staging": "sometimes"}), "home.staging: value 'sometimes'"),
        (lambda r: r.update(home={"period_s": 0}), "home.period_s: value 0"),
        (lambda r: r.update(fail_safe={"stale_meter": "hold"}), "fail_safe.stale_meter: value 'hold' is not allowed"),
        (lambda r: r.update(fail_safe={"follow_timeout_s": 0}), "fail_safe.follow_timeout_s: value 0"),
        (
            lambda r: r.update(fail_safe={"follow_cycles": 3}),
            "fail_safe.follow_cycles: value 3 is not allowed: is replaced by follow_timeout_s (seconds",
        ),
        (lambda r: r["meter"].pop("host"), "meter.host: missing"),
        (lambda r: r.pop("meter"), "meter: missing"),
        (lambda r: r.update(devices=[]), "devices: missing"),
        (lambda r: r.update(extra={}), "extra: unknown field"),
    ],
)
def test_bad_input_names_the_field(change, message):
    raw = copy.deepcopy(BASE)
    change(raw)
    with pytest.raises(InputError) as err:
        home_config_from_dict(raw, source="home.toml")
    text = str(err.value)
    assert text.startswith("home.toml: ") and message in text and "\n" not in text


def test_socbal_run_rejects_a_bad_home_config_with_exit_2_and_one_line(tmp_path):
    path = tmp_path / "home.toml"
    path.write_text((EXAMPLES / "run_home_mixed.toml").read_text().replace("capacity_wh = 1920", "capacity_wh = 0"))
    result = CliRunner().invoke(app, ["run", str(path)])
    assert result.exit_code == 2
    assert "devices[1].capacity_wh: value 0 is not allowed" in result.output and "Traceback" not in result.output


def test_the_one_device_config_still_goes_to_the_per_pack_runtime(tmp_path):
    path = tmp_path / "one.toml"
    path.write_text((EXAMPLES / "runtime_modbus.toml").read_text().replace("capacity_wh = 1920", "capacity_wh = -5", 1))
    result = CliRunner().invoke(app, ["run", str(path)])
    assert result.exit_code == 2 and "packs[0].capacity_wh" in result.output  # the per-pack runtime's own validation


@pytest.mark.parametrize("name", ["home_indevolt", "home_zendure", "home_marstek", "home_socbal_mqtt", "run_home_mixed"])
def test_the_home_examples_are_home_configs(name):
    from socbal.tomlfile import read_toml

    assert is_home_config(read_toml(EXAMPLES / f"{name}.toml", "config"))
    cfg = load_home_config(EXAMPLES / f"{name}.toml")
    assert cfg.store.path.parent == EXAMPLES  # relative to the config file


def test_relative_secret_and_tls_files_resolve_against_the_config_folder(tmp_path):
    raw = copy.deepcopy(BASE)
    raw["mqtt"] = {"username": "socbal", "password_file": "pw.txt", "tls": {"ca_file": "ca.pem", "cert_file": "/abs/cert.pem"}}
    raw["http"] = {"token_file": "token.txt"}
    cfg = home_config_from_dict(raw, base_dir=tmp_path)
    assert cfg.mqtt is not None and cfg.mqtt.tls is not None
    assert (cfg.mqtt.password_file, cfg.http.token_file) == (tmp_path / "pw.txt", tmp_path / "token.txt")
    assert cfg.mqtt.tls.ca_file == tmp_path / "ca.pem"  # as in the one-device config (it was left relative to the cwd)
    assert str(cfg.mqtt.tls.cert_file) == "/abs/cert.pem" and cfg.mqtt.tls.key_file is None
