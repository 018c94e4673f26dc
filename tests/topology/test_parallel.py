"""Parallel bank: bus voltage, equal sharing, circulating current, heat, BMS trips, charge conservation."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socbal.errors import InputError
from socbal.topology import PACK_STATE_TEXT, simulate_parallel
from socbal.topology.result import PACK_AT_FLOOR, PACK_EMPTY, PACK_ON_BUS, PACK_TRIPPED

from .conftest import make_pack


def test_equal_packs_at_equal_soc_share_the_load_with_no_circulating_current():
    packs = [make_pack(60.0), make_pack(60.0), make_pack(60.0)]
    result = simulate_parallel(packs, power_w=np.r_[np.full(600, 1500.0), np.zeros(60), np.full(600, -900.0)], step_s=1.0)
    currents = result.pack_current_a
    np.testing.assert_allclose(currents, currents[:, :1].repeat(3, axis=1), rtol=0, atol=1e-9)
    assert result.peak_circulating_current_a < 1e-9
    np.testing.assert_allclose(result.soc_pct[:, 0], result.soc_pct[:, 2], atol=1e-9)


def test_bus_voltage_makes_the_pack_currents_add_up_to_the_load():
    packs = [make_pack(80.0, resistance_ohm=0.04), make_pack(50.0, resistance_ohm=0.06), make_pack(30.0)]
    result = simulate_parallel(packs, current_a=[30.0], step_s=1.0)
    ocv_v = np.array([p.ocv_v for p in packs])
    r_ohm = np.array([p.internal_resistance_ohm for p in packs])
    bus_v = (np.sum(ocv_v / r_ohm) - 30.0) / np.sum(1 / r_ohm)  # the closed form for linear R
    assert result.bus_voltage_v[0] == pytest.approx(bus_v)
    np.testing.assert_allclose(result.pack_current_a[0], (ocv_v - bus_v) / r_ohm)
    assert result.served_current_a[0] == pytest.approx(30.0)
    assert result.served_power_w[0] == pytest.approx(bus_v * 30.0)
    # the emptier packs charge while the bank discharges: that is the circulating current
    charging = result.pack_current_a[0] < 0
    assert charging[2]
    assert result.circulating_current_a[0] == pytest.approx(-result.pack_current_a[0, charging].sum())


@pytest.mark.parametrize("chemistry", ["nmc", "lfp"])
def test_circulating_current_at_rest_is_ocv_difference_over_summed_resistance_and_decays(chemistry):
    high, low = make_pack(90.0, chemistry=chemistry, resistance_ohm=0.03), make_pack(20.0, chemistry=chemistry)
    result = simulate_parallel([high, low], power_w=np.zeros(4 * 3600), step_s=1.0)
    expected_a = (high.ocv_v - low.ocv_v) / (0.03 + 0.05)
    assert result.circulating_current_a[0] == pytest.approx(expected_a)
    assert result.peak_circulating_current_a == pytest.approx(expected_a)
    np.testing.assert_allclose(result.pack_current_a[0], [expected_a, -expected_a])
    assert np.all(np.diff(result.circulating_current_a) <= 1e-12)  # decays, never overshoots
    assert result.circulating_current_a[-1] < 0.05 * expected_a  # slowest on LFP's flat plateau
    # at rest all the energy that moves between the packs heats them: I^2 (R1 + R2) per step
    assert result.loss_wh == pytest.approx(np.sum(result.circulating_current_a**2 * 0.08) / 3600.0)
    assert result.energy_delivered_wh == result.energy_absorbed_wh == 0.0


def test_circulating_current_above_the_limit_trips_the_pack_at_once():
    packs = [make_pack(90.0, max_current_a=20.0), make_pack(20.0, max_current_a=20.0), make_pack(60.0)]
    result = simulate_parallel(packs, power_w=np.zeros(5), step_s=1.0)
    assert result.time_to_first_stop_s == 0.0
    assert result.first_stop_reason == PACK_STATE_TEXT[PACK_TRIPPED]
    assert set(result.pack_state[-1]) <= {PACK_TRIPPED, PACK_ON_BUS}
    tripped = result.pack_state[0] == PACK_TRIPPED
    assert tripped.any() and not tripped[2]
    np.testing.assert_array_equal(result.pack_current_a[:, tripped], 0.0)
    np.testing.assert_array_equal(result.pack_state[:, tripped], PACK_TRIPPED)  # latched for the rest of the run


def test_a_tripped_bank_serves_nothing_more():
    result = simulate_parallel([make_pack(50.0, max_current_a=10.0)], current_a=[5.0, 50.0, 5.0], step_s=1.0)
    np.testing.assert_array_equal(result.served_current_a, [5.0, 0.0, 0.0])
    assert np.isnan(result.bus_voltage_v[1:]).all()
    assert result.unserved_charge_ah == pytest.approx((50 + 5) / 3600)


def test_empty_packs_leave_the_bus_and_rejoin_to_charge():
    packs = [make_pack(10.0, capacity_ah=10.0), make_pack(10.0)]  # about 300 Wh: empty within the hour at 800 W
    result = simulate_parallel(packs, power_w=np.r_[np.full(3600, 800.0), np.full(600, -800.0)], step_s=1.0)
    assert result.soc_pct.min() >= 0.0
    np.testing.assert_array_equal(result.soc_pct[3600], [0.0, 0.0])
    assert result.first_stop_reason == PACK_STATE_TEXT[PACK_EMPTY]
    np.testing.assert_array_equal(result.pack_state[3599], [PACK_EMPTY, PACK_EMPTY])
    assert 0 < result.time_to_first_stop_s < 3600
    assert result.unserved_energy_wh > 0.5 * 800.0
    np.testing.assert_array_equal(result.pack_state[-1], [PACK_ON_BUS, PACK_ON_BUS])
    np.testing.assert_allclose(result.served_power_w[3600:], -800.0, rtol=1e-9)
    assert np.all(result.pack_current_a[-1] < 0)


def test_a_pack_at_the_floor_leaves_the_bus_and_rejoins_to_charge():
    # Equal SOC, unequal capacity: the 10 Ah pack reaches the 20 % floor first; the 50 Ah pack carries on alone.
    packs = [make_pack(30.0, capacity_ah=10.0), make_pack(30.0)]
    result = simulate_parallel(packs, power_w=np.r_[np.full(3600, 800.0), np.full(600, -800.0)], step_s=1.0, floor_soc_pct=20.0)
    assert result.first_stop_pack == 0
    assert result.first_stop_reason == PACK_STATE_TEXT[PACK_AT_FLOOR]
    stop = int(result.time_to_first_stop_s)
    assert result.soc_pct.min() == 20.0  # both land exactly on the floor, never below
    assert result.soc_pct[stop + 1, 0] == 20.0 and result.soc_pct[stop + 1, 1] > 20.0
    np.testing.assert_allclose(result.served_power_w[: stop + 60], 800.0, rtol=1e-9)  # the other pack serves on
    np.testing.assert_array_equal(result.pack_state[3599], [PACK_AT_FLOOR, PACK_AT_FLOOR])
    np.testing.assert_array_equal(result.soc_pct[3600], [20.0, 20.0])
    assert result.unserved_energy_wh > 0.0
    np.testing.assert_array_equal(result.pack_state[-1], [PACK_ON_BUS, PACK_ON_BUS])
    np.testing.assert_allclose(result.served_power_w[3600:], -800.0, rtol=1e-9)


def test_default_floor_is_zero():
    packs = [make_pack(10.0, capacity_ah=10.0), make_pack(25.0, resistance_ohm=0.08)]
    power_w = np.r_[np.full(3600, 900.0), np.full(300, -500.0)]
    default = simulate_parallel(packs, power_w=power_w, step_s=1.0)
    zero = simulate_parallel(packs, power_w=power_w, step_s=1.0, floor_soc_pct=0.0)
    for name in ("soc_pct", "pack_current_a", "served_power_w", "loss_w", "pack_state"):
        np.testing.assert_array_equal(getattr(default, name), getattr(zero, name))
    assert default.first_stop_reason == PACK_STATE_TEXT[PACK_EMPTY]
    assert default.soc_pct.min() == 0.0


@pytest.mark.parametrize("floor", [-1.0, 100.5, float("nan"), True, "10"])
def test_a_bad_floor_is_rejected_naming_the_field(floor):
    with pytest.raises(InputError, match=r"^floor_soc_pct: value .* is not allowed"):
        simulate_parallel([make_pack(50.0)], power_w=[1.0], step_s=1.0, floor_soc_pct=floor)


def test_power_totals_follow_the_profile():
    packs = [make_pack(70.0), make_pack(65.0)]
    result = simulate_parallel(packs, power_w=np.r_[np.full(3600, 1000.0), np.full(1800, -2000.0)], step_s=1.0)
    assert result.energy_delivered_wh == pytest.approx(1000.0)
    assert result.energy_absorbed_wh == pytest.approx(1000.0)
    assert result.unserved_energy_wh == pytest.approx(0.0, abs=1e-6)
    assert 0 < result.loss_wh < 0.05 * 2000.0


def test_energy_balance_terminals_plus_heat_equal_the_chemical_energy():
    """Energy at the terminals + I^2 R heat = energy the packs lost at their OCV (to the Euler step error)."""
    packs = [make_pack(80.0), make_pack(35.0, resistance_ohm=0.08), make_pack(55.0, capacity_ah=30.0)]
    result = simulate_parallel(packs, power_w=np.full(7200, 1200.0), step_s=1.0)
    soc = np.linspace(result.soc_pct[-1], result.soc_pct[0], 2001)  # per pack, final to initial
    chemical_wh = sum(
        np.trapezoid(p.cells_in_series * np.interp(soc[:, i], *_ocv_table(p)), soc[:, i]) / 100 * p.capacity_ah
        for i, p in enumerate(packs)
    )
    assert result.energy_delivered_wh + result.loss_wh == pytest.approx(chemical_wh, rel=1e-3)


def _ocv_table(pack):
    from socbal.topology.ocv import SOC_GRID_PCT, cell_ocv_table_v

    return SOC_GRID_PCT, cell_ocv_table_v(pack.chemistry)


@settings(max_examples=60, deadline=None)
@given(
    socs=st.lists(st.floats(0.0, 100.0), min_size=2, max_size=5),
    capacities=st.lists(st.floats(5.0, 200.0), min_size=5, max_size=5),
    resistances=st.lists(st.floats(0.005, 0.5), min_size=5, max_size=5),
    limits=st.lists(st.one_of(st.none(), st.floats(5.0, 300.0)), min_size=5, max_size=5),
    chemistries=st.lists(st.sampled_from(["nmc", "lfp"]), min_size=5, max_size=5),
    load=st.lists(st.floats(-200.0, 200.0), min_size=1, max_size=40),
    step_s=st.sampled_from([1.0, 60.0, 900.0]),
    floor=st.one_of(st.just(0.0), st.floats(0.0, 60.0)),
)
def test_charge_is_conserved_in_the_bank(socs, capacities, resistances, limits, chemistries, load, step_s, floor):
    """Whatever the load, trips, mixed chemistries, floor and empty/full packs: charge lost = charge out."""
    packs = [make_pack(s, capacity_ah=c, resistance_ohm=r, max_current_a=m, chemistry=k)
             for s, c, r, m, k in zip(socs, capacities, resistances, limits, chemistries)]  # fmt: skip
    result = simulate_parallel(packs, current_a=load, step_s=step_s, floor_soc_pct=floor)
    capacity_ah = np.array([p.capacity_ah for p in packs])
    lost_ah = np.sum((result.soc_pct[0] - result.soc_pct[-1]) * capacity_ah / 100.0)
    out_ah = np.sum(result.served_current_a) * step_s / 3600.0
    assert lost_ah == pytest.approx(out_ah, abs=1e-9 * max(1.0, capacity_ah.sum()))
    np.testing.assert_allclose(result.pack_current_a.sum(axis=1), result.served_current_a, atol=1e-9)
    assert np.all((result.soc_pct >= 0.0) & (result.soc_pct <= 100.0))
    assert np.all(np.abs(result.served_current_a) <= np.abs(result.requested_current_a) + 1e-9)
    # No pack discharges below the floor (one that starts below it may only charge).
    assert np.all(result.soc_pct >= np.minimum(result.soc_pct[0], floor))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(step_s=1.0), "give exactly one load profile"),
        (dict(power_w=[1.0], current_a=[1.0], step_s=1.0), "give exactly one load profile"),
        (dict(power_w=[1.0], step_s=0.0), "step_s: value 0.0 is not allowed"),
        (dict(power_w=[[1.0]], step_s=1.0), "power_w: must be one-dimensional"),
        (dict(current_a=[1.0, float("nan")], step_s=1.0), r"current_a\[1\]: value nan is not allowed"),
        (dict(power_w=["a"], step_s=1.0), "power_w: not a sequence of numbers"),
    ],
)
def test_bad_profiles_are_rejected_naming_the_field(kwargs, message):
    with pytest.raises(InputError, match=message):
        simulate_parallel([make_pack(50.0)], **kwargs)


def test_a_day_at_one_second_for_six_packs_is_fast():
    packs = [make_pack(s, chemistry="lfp", max_current_a=150.0) for s in (90, 75, 60, 50, 40, 30)]
    power_w = 1500.0 * np.sin(np.linspace(0, 4 * np.pi, 86_400))
    simulate_parallel(packs, power_w=power_w[:10], step_s=1.0)  # compile (cached on disk after the first run)
    start = time.process_time()  # the CPU time it took: a loaded machine's wall clock also holds the other processes'
    result = simulate_parallel(packs, power_w=power_w, step_s=1.0)
    assert time.process_time() - start < 1.0
    assert result.soc_pct.shape == (86_401, 6)
