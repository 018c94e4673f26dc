"""Runtime building blocks without sockets: codec, validation, fail-safe, plan, store, settings, API, emulator."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from pydantic import SecretStr

from socbal.ems.models import Settings
from socbal.errors import InputError
from socbal.runtime.api import create_app
from socbal.runtime.config import RegisterSpec, load_config
from socbal.runtime.control import plan_cycle
from socbal.runtime.emulator import EmulatedDevice
from socbal.runtime.modbus import decode, encode
from socbal.runtime.mqtt import Topics, discovery_messages, parse_pack_payload
from socbal.runtime.secrets import read_secret
from socbal.runtime.service import Runtime
from socbal.runtime.settings import SettingsController
from socbal.runtime.store import StateStore
from socbal.runtime.telemetry import DeviceReading, FaultTracker, PackReading, Telemetry, clamp_setpoint, pack_fault
from socbal.scenario import load_scenario

from .conftest import EXAMPLES, runtime_config

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize(
    "type_,value,scale",
    [("u16", 65535, 1), ("s16", -32768, 1), ("s16", -1.5, 0.1), ("u32", 4_000_000, 1), ("s32", -123456, 1), ("u16", 80.4, 0.1)],
)
@pytest.mark.parametrize("order", ["big", "little"])
def test_register_codec_round_trips(type_, value, scale, order):
    spec = RegisterSpec(address=0, type=type_, scale=scale)
    words = encode(value, spec, order)
    assert len(words) == spec.width and all(0 <= w <= 0xFFFF for w in words)
    assert decode(words, spec, order) == pytest.approx(value)


def test_register_codec_saturates_and_zeroes_nan():
    s16 = RegisterSpec(address=0, type="s16")
    assert decode(encode(50_000, s16), s16) == 32767
    assert decode(encode(-50_000, s16), s16) == -32768
    assert encode(math.nan, s16) == [0]
    assert encode(-2, RegisterSpec(address=0, type="u16")) == [0]
    assert encode(-1, RegisterSpec(address=0, type="s32"), "big") == [0xFFFF, 0xFFFF]
    assert encode(0x12345678, RegisterSpec(address=0, type="u32"), "little") == [0x5678, 0x1234]


def reading(soc, age=0.0, now=100.0, **kw):
    values = dict(soc_pct=soc, power_w=0.0, max_discharge_w=1200.0, max_charge_w=1200.0, online=True, received_s=now - age)
    values.update(kw)
    return PackReading(**values)


def test_pack_fault_names_stale_nan_range_and_offline():
    assert pack_fault(reading(50), 100.0, 5) is None
    assert pack_fault(None, 100.0, 5).startswith("missing")
    assert pack_fault(reading(50, age=6), 100.0, 5).startswith("stale")
    assert pack_fault(reading(math.nan), 100.0, 5).startswith("invalid: soc_pct")
    assert pack_fault(reading(120), 100.0, 5).startswith("invalid: soc_pct")
    assert pack_fault(reading(50, max_charge_w=-1), 100.0, 5).startswith("invalid: max_charge_w")
    assert pack_fault(reading(50, online=False), 100.0, 5).startswith("offline")


def test_fault_tracker_logs_a_fault_once_until_it_clears():
    t = FaultTracker()
    assert t.update({"p1": "stale: 1.0 s"}) == ({"p1": "stale: 1.0 s"}, [])
    assert t.update({"p1": "stale: 2.0 s"}) == ({}, [])
    assert t.update({"p1": "invalid: x"}) == ({"p1": "invalid: x"}, [])
    assert t.update({}) == ({}, ["p1"])


@hsettings(max_examples=300, deadline=None)
@given(
    power=st.floats(allow_nan=True, allow_infinity=True),
    soc=st.floats(allow_nan=True),
    reserve=st.floats(5, 100),
    dis=st.floats(allow_nan=True),
    chg=st.floats(allow_nan=True),
)
def test_clamp_never_exceeds_limits_or_discharges_at_the_reserve(power, soc, reserve, dis, chg):
    out = clamp_setpoint(power, soc, reserve, dis, chg)
    assert math.isfinite(out)
    if out > 0:
        assert soc > reserve and out <= dis
    if out < 0:
        assert soc < 100 and -out <= chg


def telemetry(socs, now=100.0, load_w=900.0, **pack_kw):
    return Telemetry(
        device=DeviceReading(pv_w=0.0, load_w=load_w, grid_on=True, received_s=now),
        packs={pid: reading(soc, now=now, **pack_kw) for pid, soc in socs.items()},
    )


def test_plan_shares_the_spec_example_600_300(tmp_path):
    cfg = runtime_config(tmp_path, modbus_port=1)
    plan = plan_cycle(cfg, cfg.settings, telemetry({"main": 80, "p1": 40}), 100.0, {})
    assert plan.setpoints_w == pytest.approx({"main": 600.0, "p1": 300.0})
    assert plan.faults == {}


def test_plan_drops_a_bad_pack_and_the_other_takes_its_share(tmp_path):
    cfg = runtime_config(tmp_path, modbus_port=1)
    tel = telemetry({"main": 80, "p1": 40})
    tel.packs["p1"] = reading(40, age=5.0)
    plan = plan_cycle(cfg, cfg.settings, tel, 100.0, {})
    assert plan.setpoints_w == pytest.approx({"main": 900.0, "p1": 0.0})
    assert plan.faults["p1"].startswith("stale")
    tel = telemetry({"main": 80, "p1": 40})
    tel.errors["p1"] = "garbage: payload is not JSON"
    assert plan_cycle(cfg, cfg.settings, tel, 100.0, {}).setpoints_w["p1"] == 0.0


def test_plan_ignores_telemetry_that_claims_more_than_the_hard_caps(tmp_path):
    cfg = runtime_config(tmp_path, modbus_port=1)
    tel = telemetry({"main": 80, "p1": 80}, load_w=90_000.0, max_discharge_w=99_000.0)
    plan = plan_cycle(cfg, cfg.settings, tel, 100.0, {})
    # the AC output limit (2400 W) bounds the request; each pack stays at its 1200 W hard cap
    assert all(0 < v <= 1200.0 for v in plan.setpoints_w.values())
    tel = telemetry({"main": 10, "p1": 9.5})  # at or below the 10 % reserve: nothing discharges
    plan = plan_cycle(cfg, cfg.settings, tel, 100.0, {})
    assert all(v <= 0.0 for v in plan.setpoints_w.values())  # (total SOC below reserve: backup AC charging)


def test_plan_zero_everywhere_when_link_or_device_telemetry_is_bad(tmp_path):
    cfg = runtime_config(tmp_path, modbus_port=1)
    tel = telemetry({"main": 80, "p1": 40})
    tel.errors["link"] = "link: down"
    assert plan_cycle(cfg, cfg.settings, tel, 100.0, {}).setpoints_w == {"main": 0.0, "p1": 0.0}
    tel = telemetry({"main": 80, "p1": 40})
    tel.device = DeviceReading(pv_w=math.nan, load_w=900.0, grid_on=True, received_s=100.0)
    plan = plan_cycle(cfg, cfg.settings, tel, 100.0, {})
    assert plan.setpoints_w == {"main": 0.0, "p1": 0.0} and plan.faults["device"].startswith("invalid")


def test_examples_load_and_bad_config_exits_2_with_one_line(tmp_path):
    for name in ("runtime_modbus", "runtime_mqtt"):
        load_config(EXAMPLES / f"{name}.toml")
    load_scenario(EXAMPLES / "emulate_80_40.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text((EXAMPLES / "runtime_modbus.toml").read_text().replace("backup_reserve_pct = 10", "backup_reserve_pct = 150"))
    with pytest.raises(InputError, match="settings.backup_reserve_pct"):
        load_config(bad)
    r = subprocess.run([sys.executable, "-m", "socbal", "run", str(bad)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1 and "backup_reserve_pct" in r.stderr


def test_secrets_come_from_env_or_file_and_are_never_shown(tmp_path, monkeypatch):
    monkeypatch.setenv("SOCBAL_TEST_SECRET", "hunter2")
    s = read_secret("mqtt password", env="SOCBAL_TEST_SECRET")
    assert s.get_secret_value() == "hunter2" and "hunter2" not in repr(s) and "hunter2" not in str(s)
    f = tmp_path / "secret"
    f.write_text("s3cr3t\n")
    assert read_secret("token", file=f).get_secret_value() == "s3cr3t"
    with pytest.raises(InputError, match="SOCBAL_UNSET_VAR is not set; set it, or leave out the setting that names it"):
        read_secret("token", env="SOCBAL_UNSET_VAR")
    assert read_secret("token") is None


def test_run_without_the_api_token_it_names_says_which_variable_and_how_to_do_without(tmp_path):
    # The example's comment read "without a token the API is read-only", yet `socbal run` stopped with
    # "http token: environment variable SOCBAL_API_TOKEN is not set" and no word on what to do.
    config = tmp_path / "runtime_modbus.toml"
    config.write_text((EXAMPLES / "runtime_modbus.toml").read_text())
    env = {k: v for k, v in os.environ.items() if k != "SOCBAL_API_TOKEN"}
    r = subprocess.run([sys.executable, "-m", "socbal", "run", str(config)], capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip().splitlines() == [
        "error: http token: environment variable SOCBAL_API_TOKEN is not set; set it, or leave out http.token_env "
        "(a read-only API without a token)"
    ]
    assert not (tmp_path / "socbal-state.sqlite").exists()  # nothing written before the refusal


def test_settings_are_validated_persisted_atomically_and_applied_next_cycle(tmp_path):
    store = StateStore(tmp_path / "s.sqlite")
    ctl = SettingsController(store, Settings(), ["main", "p1"])
    with pytest.raises(InputError, match="backup_reserve_pct"):
        ctl.propose({"backup_reserve_pct": 150}, "test")
    with pytest.raises(InputError, match="strategy"):
        ctl.propose({"strategy": "nonsense"}, "test")
    ctl.propose({"backup_reserve_pct": 25, "strategy": "droop"}, "test")
    assert ctl.current.backup_reserve_pct == 10  # not before the next cycle
    assert ctl.apply_pending().backup_reserve_pct == 25 and ctl.current.strategy == "droop"
    for i in range(50):
        store.log("setpoints", f"cycle {i}")
    store.close()
    store = StateStore(tmp_path / "s.sqlite")  # a restart
    assert SettingsController(store, Settings(), ["main", "p1"]).current.backup_reserve_pct == 25
    kinds = [e["kind"] for e in store.events()]
    assert kinds.count("rejected") == 2 and kinds.count("setting") == 1 and kinds.count("setpoints") == 50
    store.close()


def test_http_api_needs_the_token_to_write(tmp_path):
    cfg = runtime_config(tmp_path, modbus_port=1)
    rt = Runtime(cfg, api_token=SecretStr("tok-123"))
    try:
        client = TestClient(create_app(rt.state, rt.settings, rt.store, SecretStr("tok-123")))
        assert client.get("/settings").json()["backup_reserve_pct"] == 10
        assert client.patch("/settings", json={"backup_reserve_pct": 30}).status_code == 401
        assert (
            client.patch("/settings", json={"backup_reserve_pct": 30}, headers={"Authorization": "Bearer wrong"}).status_code
            == 401
        )
        auth = {"Authorization": "Bearer tok-123"}
        r = client.patch("/settings", json={"backup_reserve_pct": 4}, headers=auth)
        assert r.status_code == 422 and "backup_reserve_pct" in r.json()["detail"]
        r = client.patch("/settings", json={"backup_reserve_pct": 30, "strategy": "equal"}, headers=auth)
        assert r.status_code == 200 and r.json()["strategy"] == "equal"
        assert client.get("/events").status_code == 401
        assert rt.store.flush()
        events = client.get("/events", headers=auth).json()
        assert [e["kind"] for e in events] == ["rejected", "setting"]
        assert all("tok-123" not in str(e) for e in events)
        readonly = TestClient(create_app(rt.state, rt.settings, rt.store, None))
        assert readonly.patch("/settings", json={"strategy": "spec"}, headers=auth).status_code == 403
    finally:
        rt.store.close()


def test_home_assistant_discovery_covers_soc_reserve_and_strategy(tmp_path):
    cfg = runtime_config(tmp_path, link="mqtt", mqtt_port=1883)
    msgs = dict(discovery_messages(cfg, Topics("test/dev")))
    soc = msgs["homeassistant/sensor/socbal_test/p1_soc/config"]
    assert soc["device_class"] == "battery" and soc["state_topic"] == "test/dev/packs/p1/soc_pct"
    number = msgs["homeassistant/number/socbal_test/backup_reserve/config"]
    assert (number["min"], number["max"]) == (5, 100) and number["command_topic"].endswith("/set")
    select = msgs["homeassistant/select/socbal_test/strategy/config"]
    assert "spec" in select["options"] and "priority" in select["options"]


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\xff\xfe",
        b"[1,2]",
        b'{"soc_pct": "80"}',
        b"{not json",
        b'{"soc_pct": 1, "power_w": 0, "max_discharge_w": 1, "max_charge_w": 1, "online": 1}',
    ],
)
def test_garbage_pack_payloads_are_rejected(payload):
    with pytest.raises(ValueError):
        parse_pack_payload(payload, 0.0)


def test_emulator_follows_setpoints_and_its_watchdog_falls_back_to_zero():
    dev = EmulatedDevice(load_scenario(EXAMPLES / "emulate_80_40.toml"), speed=60.0, watchdog_s=0.3)
    dev.step(0.1)
    assert list(dev.power_w) == [0.0, 0.0] and dev.watchdog_tripped  # no setpoint yet
    dev.accept_setpoints({0: 600.0, 1: 5000.0})
    dev.step(0.1)
    assert dev.power_w[0] == pytest.approx(600.0) and dev.power_w[1] == pytest.approx(1200.0)  # DC-DC limit
    time.sleep(0.35)
    dev.step(0.1)
    assert list(dev.power_w) == [0.0, 0.0] and dev.watchdog_tripped
