"""Series string: one current, the weakest pack stops it."""

from __future__ import annotations

import numpy as np
import pytest

from socbal.topology import PACK_STATE_TEXT, simulate_series, usable_cycle_ah
from socbal.topology.ocv import cell_ocv_v
from socbal.topology.result import PACK_AT_FLOOR, PACK_EMPTY, PACK_FULL, PACK_TRIPPED

from .conftest import make_pack


def _charge_ah(result, sign: float) -> float:
    """Charge through the string terminals in one direction, Ah (+1 discharge, -1 charge)."""
    current = result.served_current_a * sign
    return float(np.sum(current[current > 0]) * result.step_s / 3600.0)


@pytest.mark.parametrize("charge_first", [True, False])
def test_100ah_at_75pct_with_90ah_at_50pct_cycle_70ah(charge_first):
    """Known answer: 100 Ah at 75 % in series with 90 Ah at 50 % cycle 70 Ah, not 90 Ah.

    Interpretation: the *usable cycle* of a string is the charge it moves between
    "the first pack is full" and "the first pack is empty", as a BMS allows it.
    Charging first: pack A (25 Ah headroom) is full after 25 Ah, B is then at
    70 of 90 Ah; discharging, B is empty after 70 Ah (A still holds 30 Ah).
    Discharging first gives the same: B is empty after 45 Ah (A holds 30 Ah), then
    A is full after 70 Ah of charge. In general usable = min(remaining) +
    min(headroom) = 45 + 25 Ah, against the 90 Ah of the smaller pack and the
    45 Ah that a discharge alone would deliver from this starting point.
    """
    packs = [make_pack(75, capacity_ah=100, chemistry="lfp"), make_pack(50, capacity_ah=90, chemistry="lfp")]
    first, second = (-10.0, 10.0) if charge_first else (10.0, -10.0)
    profile = np.r_[np.full(600, first), np.full(900, second)]  # 10 A for 10 h, then for 15 h
    result = simulate_series(packs, current_a=profile, step_s=60.0)

    assert usable_cycle_ah(packs) == pytest.approx(70.0)
    cycled_ah = _charge_ah(result, 1.0 if charge_first else -1.0)
    assert cycled_ah == pytest.approx(70.0, abs=1e-9)
    assert _charge_ah(result, -1.0 if charge_first else 1.0) == pytest.approx(25.0 if charge_first else 45.0, abs=1e-9)
    assert result.time_to_first_stop_s == pytest.approx(2.5 * 3600 if charge_first else 4.5 * 3600)
    assert result.first_stop_pack == (0 if charge_first else 1)
    assert result.first_stop_reason == PACK_STATE_TEXT[PACK_FULL if charge_first else PACK_EMPTY]
    # at the end one pack sits at its bound and the other is stranded between
    np.testing.assert_allclose(result.soc_pct[-1], [30.0, 0.0] if charge_first else [100.0, 700 / 9], atol=1e-9)


def test_equal_packs_at_equal_soc_cycle_their_full_capacity():
    assert usable_cycle_ah([make_pack(40), make_pack(40), make_pack(40)]) == pytest.approx(50.0)


def test_empty_pack_stops_discharge_but_the_string_can_still_charge():
    packs = [make_pack(2.0), make_pack(60.0)]  # 1 Ah left in pack 0: empty after 12 min at 5 A
    result = simulate_series(packs, current_a=np.r_[np.full(20, 5.0), np.full(10, -5.0)], step_s=60.0)
    assert result.soc_pct[:, 0].min() == 0.0
    assert result.time_to_first_stop_s == pytest.approx(12 * 60.0)
    expected_a = np.r_[np.full(12, 5.0), np.zeros(8), np.full(10, -5.0)]
    np.testing.assert_allclose(result.served_current_a, expected_a, atol=1e-9)
    assert result.unserved_charge_ah == pytest.approx(8 * 60 * 5 / 3600)


def test_the_string_stops_discharging_when_its_first_pack_reaches_the_floor():
    """50 Ah packs at 30 % and 60 %, floor 20 %: 5 Ah above the floor in the first, 1 h at 5 A, landed mid-step."""
    packs = [make_pack(30.0), make_pack(60.0)]
    result = simulate_series(packs, current_a=np.r_[np.full(12, 5.0), np.full(3, -5.0)], step_s=420.0, floor_soc_pct=20.0)
    assert result.time_to_first_stop_s == pytest.approx(3600.0)
    assert result.first_stop_pack == 0
    assert result.first_stop_reason == PACK_STATE_TEXT[PACK_AT_FLOOR]
    assert result.soc_pct[:, 0].min() == 20.0  # exactly on the floor, never below
    np.testing.assert_array_equal(result.soc_pct[9:13, 0], 20.0)
    assert result.soc_pct[12, 1] == pytest.approx(50.0)  # the other pack still holds its charge
    # 3600 s = 8 steps of 420 s + 240 s: the ninth step serves 240 of its 420 s; the string charges again after.
    expected_a = np.r_[np.full(8, 5.0), 5.0 * 240 / 420, np.zeros(3), np.full(3, -5.0)]
    np.testing.assert_allclose(result.served_current_a, expected_a, atol=1e-9)
    np.testing.assert_array_equal(result.pack_state[9:12, 0], PACK_AT_FLOOR)


def test_a_pack_below_the_floor_from_the_start_blocks_discharge_but_charges():
    result = simulate_series([make_pack(5.0), make_pack(60.0)], current_a=[5.0, -5.0], step_s=60.0, floor_soc_pct=10.0)
    np.testing.assert_allclose(result.served_current_a, [0.0, -5.0], atol=1e-12)
    assert result.time_to_first_stop_s == 0.0 and result.first_stop_reason == PACK_STATE_TEXT[PACK_AT_FLOOR]
    assert result.soc_pct[-1, 0] > 5.0


def test_power_profile_is_served_at_the_string_voltage():
    packs = [make_pack(60.0, resistance_ohm=0.03), make_pack(50.0, resistance_ohm=0.05)]
    result = simulate_series(packs, power_w=[2000.0, -1500.0, 0.0], step_s=1.0)
    np.testing.assert_allclose(result.served_power_w, [2000.0, -1500.0, 0.0], rtol=1e-9, atol=1e-9)
    emf_v = sum(14 * cell_ocv_v("nmc", p.soc_pct) for p in packs)
    current_a = result.served_current_a[0]
    assert result.bus_voltage_v[0] == pytest.approx(emf_v - current_a * 0.08)
    assert result.bus_voltage_v[0] * current_a == pytest.approx(2000.0)
    assert result.loss_w[0] == pytest.approx(current_a**2 * 0.08)
    np.testing.assert_array_equal(result.pack_current_a[:, 0], result.pack_current_a[:, 1])
    assert result.peak_circulating_current_a == 0.0


def test_over_current_trips_the_whole_string_for_good():
    packs = [make_pack(50.0, max_current_a=100.0), make_pack(50.0, max_current_a=40.0)]
    result = simulate_series(packs, current_a=[20.0, 50.0, 20.0, -20.0], step_s=1.0)
    np.testing.assert_array_equal(result.served_current_a, [20.0, 0.0, 0.0, 0.0])
    assert (result.time_to_first_stop_s, result.first_stop_pack) == (1.0, 1)
    assert result.first_stop_reason == PACK_STATE_TEXT[PACK_TRIPPED]
    assert np.isnan(result.bus_voltage_v[1:]).all()
