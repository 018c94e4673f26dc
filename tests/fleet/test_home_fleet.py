"""Home fleets: each home is the home simulation, the draws keep their bounds, every runner gives the same
results, bad input is one line and exit 2, and a fleet too large for memory is refused before it is drawn."""

import json
import logging
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socbal.errors import InputError
from socbal.fleet import home_runner
from socbal.fleet.home_runner import prepare_home_fleet, run_home_fleet, run_home_fleet_dask
from socbal.fleet.home_sample import draw_homes
from socbal.home.engine import simulate_home
from socbal.home.fleetspec import HomeFleetSpec
from socbal.home.scenario import home_scenario_from_dict
from socbal.tomlfile import read_toml

from .conftest import EXAMPLES

#: Metrics a fleet home shares with the home simulation's summary.
SHARED = (
    "load_kwh", "pv_kwh", "pv_curtailed_kwh", "grid_import_kwh", "export_kwh", "net_import_storage_corrected_kwh",
    "stored_change_kwh", "served_by_storage_kwh", "storage_ac_kwh", "avoidable_import_kwh", "avoidable_export_kwh",
    "cross_charge_kwh", "max_handover_gap_s", "losses_kwh", "main_unit_kwh", "device_soc_spread_max_pct",
    "staging_switches", "meter_stale_s",
)  # fmt: skip


def small_home(hours: float = 2.0, **fleet):
    """The home fleet example cut to ``hours`` from 10:00 (PV, load and handovers), ``fleet`` overriding [fleet]."""
    raw = read_toml(EXAMPLES / "home_fleet.toml", "scenario")
    raw["run"] = {"start": "2026-06-01T10:00:00", "step_s": 2, "horizon_h": hours}
    raw["fleet"] = {**raw["fleet"], **fleet}
    return home_scenario_from_dict(raw, base_dir=EXAMPLES)


NO_SPREAD = dict(load_scale_sigma=0, pv_scale_sigma=0, capacity_spread_pct=0, soh_pct=None, initial_soc_pct=None)


@pytest.mark.parametrize("n_devices", [1, 3])
def test_a_fleet_home_without_spread_is_the_home_simulation(n_devices):
    scenario = small_home(**NO_SPREAD, device_count=[n_devices, n_devices])
    fleet = run_home_fleet(scenario, homes=2, seed=0, threads=2)
    one = simulate_home(scenario.model_copy(update={"devices": scenario.devices[:n_devices]})).summary["home"]
    assert (fleet.homes["n_devices"] == n_devices).all()
    for _, home in fleet.homes.iterrows():
        for key in SHARED:
            assert home[key] == pytest.approx(one[key], rel=1e-9, abs=1e-12, nan_ok=True), key
        # a one-device home has no handover nor other device: the gap and the device spread are not applicable
        # (NaN), in the fleet as in the home run
        assert np.isnan(home["max_handover_gap_s"]) == (n_devices == 1)
        assert np.isnan(home["device_soc_spread_max_pct"]) == (n_devices == 1)
        assert home["battery_unserved_kwh"] == pytest.approx(
            sum(d["energy_kwh"]["battery_unserved"] for d in one["devices"].values()), abs=1e-12
        )
    assert len(fleet.devices) == 2 * n_devices
    first = fleet.devices[fleet.devices.home == 0].set_index("device_id")
    for did, summary in one["devices"].items():
        assert first.loc[did, "discharge_kwh"] == pytest.approx(summary["energy_kwh"]["battery_discharge"], rel=1e-9)


def test_threads_and_dask_give_identical_results():
    scenario = small_home(hours=1.0)
    one = run_home_fleet(scenario, homes=7, seed=3, threads=1)
    two = run_home_fleet(scenario, homes=7, seed=3, threads=2)
    on_dask = run_home_fleet_dask(scenario, homes=7, seed=3, workers=2, chunks=3)
    for other in (two, on_dask):
        pd.testing.assert_frame_equal(one.homes, other.homes, check_exact=True)
        pd.testing.assert_frame_equal(one.devices, other.devices, check_exact=True)
        assert json.dumps(one.summary, sort_keys=True) == json.dumps(other.summary, sort_keys=True)
    assert one.homes["avoidable_import_kwh"].nunique() > 1  # the homes differ
    assert set(one.homes["n_devices"]) <= {1, 2, 3}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 2**31),
    homes=st.integers(1, 40),
    spread=st.floats(0, 30),
    soh=st.tuples(st.floats(1, 100), st.floats(1, 100)).map(sorted),
    soc=st.tuples(st.floats(0, 100), st.floats(0, 100)).map(sorted),
    count=st.tuples(st.integers(1, 3), st.integers(1, 3)).map(sorted),
    split=st.integers(0, 40),
)
def test_draws_keep_their_bounds_and_do_not_depend_on_the_split(seed, homes, spread, soh, soc, count, split):
    scenario = small_home()
    spec = HomeFleetSpec(capacity_spread_pct=spread, soh_pct=soh, initial_soc_pct=soc, device_count=count)
    draw = draw_homes(scenario, spec, homes, seed)
    assert ((draw.soh_pct >= soh[0]) & (draw.soh_pct <= soh[1])).all()
    assert ((draw.soc0_pct >= soc[0]) & (draw.soc0_pct <= soc[1])).all()
    assert ((draw.n_devices >= count[0]) & (draw.n_devices <= count[1])).all()
    scenario_soh = np.array([p.soh_pct for d in scenario.devices for p in d.all_packs])
    nominal = draw.capacity_scale * scenario_soh / draw.soh_pct  # the manufacturing part alone
    assert (np.abs(nominal - 1.0) <= 3.0 * spread / 100.0 + 1e-12).all()
    # packs of one device start at one SOC
    owner = np.repeat(np.arange(3), [len(d.all_packs) for d in scenario.devices])
    assert (np.ptp(draw.soc0_pct[:, owner == 0], axis=1) == 0).all()
    cut = min(split, homes)
    parts = [draw.chunk(0, cut), draw.chunk(cut, homes)]
    assert np.array_equal(np.concatenate([p.soc0_pct for p in parts]), draw.soc0_pct)
    assert np.array_equal(draw_homes(scenario, spec, homes, seed).capacity_scale, draw.capacity_scale)  # same seed


def test_every_home_closes_its_energy_balance():
    fleet = run_home_fleet(small_home(), homes=12, seed=9).homes
    supplied = fleet["grid_import_kwh"] + fleet["pv_kwh"]
    used = (
        fleet["load_kwh"] + fleet["export_kwh"] + fleet["losses_kwh"] + fleet["pv_curtailed_kwh"] + fleet["stored_change_kwh"]
    )  # fmt: skip
    np.testing.assert_allclose(supplied, used, atol=1e-6)
    assert (fleet["served_by_storage_kwh"] <= fleet["load_kwh"] + 1e-12).all()


def test_a_fleet_too_large_for_memory_is_refused_naming_the_estimate(monkeypatch, caplog):
    scenario = small_home()
    monkeypatch.setattr(home_runner, "memory_available_bytes", lambda: 10_000_000)
    with pytest.raises(InputError, match=r"^--homes: value 100000 is not allowed: 100000 homes need about [\d.]+ GB in memory"):
        prepare_home_fleet(scenario, homes=100_000)
    need = home_runner.memory_estimate_bytes(scenario, 1000, 2, 0)
    monkeypatch.setattr(home_runner, "memory_available_bytes", lambda: int(need / 0.5))
    with caplog.at_level(logging.WARNING):
        prepare_home_fleet(scenario, homes=1000, threads=2)
    assert "1000 homes need about" in caplog.text


def socbal(*args):
    return subprocess.run([sys.executable, "-m", "socbal", *args], capture_output=True, text=True, timeout=300)


def test_socbal_fleet_on_a_home_writes_homes_devices_and_percentiles(tmp_path):
    scenario = tmp_path / "h.toml"
    scenario.write_text((EXAMPLES / "home_fleet.toml").read_text().replace("horizon_h = 24", "horizon_h = 0.5"))
    out = socbal("fleet", str(scenario), "--homes", "5", "--seed", "2", "--out", str(tmp_path / "r"))
    assert out.returncode == 0, out.stderr
    assert "5 homes of up to 3 devices" in out.stdout and "avoidable import, kWh" in out.stdout
    homes = pd.read_parquet(tmp_path / "r" / "homes.parquet")
    devices = pd.read_parquet(tmp_path / "r" / "devices.parquet")
    assert list(homes["home"]) == list(range(5)) and len(devices) == homes["n_devices"].sum()
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["homes"] == 5 and summary["seed"] == 2
    assert {"avoidable_import_kwh", "avoidable_export_kwh", "cross_charge_kwh", "max_handover_gap_s"} <= set(
        summary["distribution"]
    )


@pytest.mark.parametrize(
    "patch, args, field",
    [
        ("soh_pct = [80, 100]", "soh_pct = [100, 80]", "fleet.soh_pct"),
        ("device_count = [1, 3]", "device_count = [1, 5]", "fleet.device_count"),
        ("homes = 100", "homes = 'many'", "fleet.homes"),
        ("pv_scale_sigma = 0.3", "pv_scale_sigma = -1", "fleet.pv_scale_sigma"),
        (None, ["--homes", "0"], "homes"),
        (None, ["--devices", "3"], "--devices"),
    ],
)
def test_bad_home_fleet_input_is_one_line_and_exit_2(tmp_path, patch, args, field):
    scenario = tmp_path / "h.toml"
    text = (EXAMPLES / "home_fleet.toml").read_text()
    scenario.write_text(text.replace(patch, args) if patch else text)
    out = socbal("fleet", str(scenario), "--out", str(tmp_path / "r"), *([] if patch else args))
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr and field in lines[0], out.stderr
    assert not (tmp_path / "r").exists()  # nothing written


def test_homes_is_only_for_a_home_scenario():
    out = socbal("fleet", str(EXAMPLES / "fleet.toml"), "--homes", "3")
    assert out.returncode == 2 and "--homes" in out.stderr and len(out.stderr.strip().splitlines()) == 1
