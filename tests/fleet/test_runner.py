"""Running a fleet: every device is the single-device simulation; Dask gives exactly the plain run's results."""

import math

import numpy as np
import pandas as pd
import pytest

from socbal.fleet.runner import run_fleet, run_fleet_dask
from socbal.scenario import scenario_from_dict
from socbal.sim.engine import simulate

from .conftest import NO_SPREAD, small_scenario


def test_identical_devices_match_the_single_device_simulation():
    scenario = small_scenario(**NO_SPREAD)
    fleet = run_fleet(scenario, devices=3, seed=0)
    one = simulate(scenario).summary
    for _, device in fleet.devices.iterrows():
        assert device["max_spread_pct"] == one["spread"]["max_pct"]
        assert device["load_kwh"] == pytest.approx(one["energy_kwh"]["load"], rel=1e-9)
        assert device["conversion_loss_kwh"] == pytest.approx(one["energy_kwh"]["conversion_loss"], rel=1e-9)
        # the fleet's losses left out the main unit's draw that the one-device losses (and its books) hold
        assert device["main_unit_kwh"] == pytest.approx(one["energy_kwh"]["main_unit"], rel=1e-9)
        assert device["losses_kwh"] == pytest.approx(one["energy_kwh"]["losses"], rel=1e-9)
    cycles = fleet.packs[fleet.packs.device == 2]["throughput_efc"].to_numpy()
    assert cycles == pytest.approx([p["throughput_efc"] for p in one["packs"]], rel=1e-9)


def test_fleet_device_residuals_that_are_float_rounding_are_0_as_in_the_one_device_summary():
    # the fleet example's devices had grid_import_kwh and battery_unserved_kwh of 5e-16 to 8e-16 kWh
    scenario = small_scenario(**NO_SPREAD)
    fleet = run_fleet(scenario, devices=2, seed=0)
    one = simulate(scenario).summary["energy_kwh"]
    for column, key in (
        ("grid_import_kwh", "grid_import"),
        ("battery_unserved_kwh", "battery_unserved"),
        ("unserved_kwh", "unserved"),
    ):
        values = fleet.devices[column].to_numpy()
        assert ((values == 0.0) | (np.abs(values) > 1e-9 * fleet.devices["load_kwh"].to_numpy())).all(), column
        assert values == pytest.approx(one[key], rel=1e-9, abs=0.0), column


def test_results_are_per_device_and_summarised(scenario):
    fleet = run_fleet(scenario, devices=8, seed=2, threads=2)
    assert list(fleet.devices["device"]) == list(range(8))
    assert len(fleet.packs) == 8 * 3
    assert fleet.devices["max_spread_pct"].nunique() > 1  # the devices differ
    dist = fleet.summary["distribution"]
    assert set(dist) == {"max_spread_pct", "final_spread_pct", "unserved_kwh", "throughput_efc", "losses_kwh"}
    spread = fleet.devices["max_spread_pct"]
    assert dist["max_spread_pct"]["p50"] == pytest.approx(np.percentile(spread, 50))
    assert dist["max_spread_pct"]["p100"] == spread.max()


def test_a_fleet_of_one_pack_devices_has_no_spread_rather_than_0():
    # max SOC spread p50 0.000 % over a fleet of main units alone: a spread is between packs
    raw = small_scenario().model_dump(mode="json", exclude_none=True)
    raw["packs"] = []
    fleet = run_fleet(scenario_from_dict(raw), devices=3, seed=0)
    for column in ("max_spread_pct", "max_spread_estimated_pct", "final_spread_pct"):
        assert fleet.devices[column].isna().all(), column
    assert math.isnan(fleet.summary["distribution"]["max_spread_pct"]["p50"])
    assert fleet.summary["distribution"]["losses_kwh"]["p50"] > 0  # the rest still applies


def test_thread_count_does_not_change_results(scenario):
    one = run_fleet(scenario, devices=6, seed=4, threads=1)
    two = run_fleet(scenario, devices=6, seed=4, threads=2)
    pd.testing.assert_frame_equal(one.devices, two.devices, check_exact=True)


def test_dask_local_cluster_of_two_workers_gives_identical_results(scenario):
    plain = run_fleet(scenario, devices=10, seed=5)
    on_dask = run_fleet_dask(scenario, devices=10, seed=5, workers=2, chunks=3)
    pd.testing.assert_frame_equal(plain.devices, on_dask.devices, check_exact=True)
    pd.testing.assert_frame_equal(plain.packs, on_dask.packs, check_exact=True)
    assert plain.summary == on_dask.summary


def test_a_fleet_device_records_bit_for_bit_what_the_one_device_loop_records_over_one_row():
    from socbal.device.params import PARAM_BELIEVED_CAPACITY_WH, PARAM_CAPACITY_WH
    from socbal.fleet.kernel import run_device
    from socbal.sim import engine, kernel

    inputs = engine.kernel_inputs(small_scenario(**NO_SPREAD))
    clock = inputs.clock
    one_row = engine.run_loop(inputs._replace(clock=kernel.Clock(clock.step_s, clock.n_steps, clock.n_steps)))
    params = inputs.model.params
    fleet_device = run_device(
        inputs.model,
        params,
        inputs.soc_true0_pct / 100.0 * params[:, PARAM_CAPACITY_WH],
        inputs.soc_est0_pct / 100.0 * params[:, PARAM_BELIEVED_CAPACITY_WH],
        inputs.profiles,
        1.0,
        clock,
    )
    for ours, theirs in zip(fleet_device, one_row):
        np.testing.assert_array_equal(ours, theirs)
