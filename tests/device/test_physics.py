"""One pack behind its DC-DC module over one step: efficiency curve, losses, energy conservation and bounds."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socbal.device.physics import (
    cell_side_w,
    curve_slopes,
    dcdc_efficiency,
    i2r_coefficient_per_w,
    inverse_rating_per_w,
    step_pack,
)
from socbal.jit import python_function

CURVE_LOAD = np.array([0.0, 0.05, 0.2, 0.5, 1.0])
CURVE_EFF = np.array([0.80, 0.90, 0.955, 0.97, 0.96])
CURVE_SLOPE = curve_slopes(CURVE_LOAD, CURVE_EFF)
RATED_W = 1200.0
VOLTAGE_V = 51.2


def converter(rated_w: float, loads: np.ndarray, effs: np.ndarray, resistance_ohm: float, voltage_v: float) -> tuple:
    """A DC-DC module and its pack as :func:`cell_side_w` takes them (reciprocals and slopes computed once)."""
    return (
        float(inverse_rating_per_w(rated_w)),
        loads,
        effs,
        curve_slopes(loads, effs),
        float(i2r_coefficient_per_w(resistance_ohm, voltage_v)),
    )


@st.composite
def curves(draw):
    """A DC-DC curve: strictly increasing load shares in 0-1.2, efficiencies in 0.5-1."""
    n = draw(st.integers(1, 6))
    loads = np.array(sorted(draw(st.lists(st.floats(0.0, 1.2), min_size=n, max_size=n, unique=True))))
    effs = np.array(draw(st.lists(st.floats(0.5, 1.0), min_size=n, max_size=n)))
    return loads, effs


@settings(max_examples=300, deadline=None)
@given(curves(), st.lists(st.floats(-0.5, 2.0), min_size=1, max_size=10))
def test_efficiency_is_np_interp_on_the_curve(curve, fractions):
    loads, effs = curve
    for fraction in fractions:
        assert dcdc_efficiency(fraction, loads, effs, curve_slopes(loads, effs)) == pytest.approx(
            np.interp(fraction, loads, effs), rel=1e-12, abs=1e-15
        )


def test_efficiency_at_the_curve_points_and_beyond_its_ends():
    for load, eff in zip(CURVE_LOAD, CURVE_EFF):
        assert dcdc_efficiency(load, CURVE_LOAD, CURVE_EFF, CURVE_SLOPE) == eff
    assert dcdc_efficiency(-1.0, CURVE_LOAD, CURVE_EFF, CURVE_SLOPE) == CURVE_EFF[0]
    assert dcdc_efficiency(3.0, CURVE_LOAD, CURVE_EFF, CURVE_SLOPE) == CURVE_EFF[-1]


def _battery_w(bus_w: float, resistance_ohm: float = 0.02) -> float:
    return cell_side_w(bus_w, *converter(RATED_W, CURVE_LOAD, CURVE_EFF, resistance_ohm, VOLTAGE_V))[0]


def test_known_losses_at_half_load():
    # 600 W is 50 % of the rating: efficiency 0.97, then I^2 R on the cell current
    cell_w = 600.0 / 0.97
    assert _battery_w(600.0) == pytest.approx(cell_w + (cell_w / VOLTAGE_V) ** 2 * 0.02)
    cell_w = -600.0 * 0.97
    assert _battery_w(-600.0) == pytest.approx(cell_w + (cell_w / VOLTAGE_V) ** 2 * 0.02)
    assert _battery_w(0.0) == 0.0


@settings(max_examples=300, deadline=None)
@given(st.floats(-3000.0, 3000.0), st.floats(0.0, 0.1))
def test_losses_are_never_negative_and_keep_the_sign(bus_w, resistance_ohm):
    battery_w = _battery_w(bus_w, resistance_ohm)
    assert battery_w - bus_w >= -1e-9  # discharge: the cells give more; charge: they get less
    assert np.sign(battery_w) == np.sign(bus_w)  # at these resistances I*R stays far below the pack voltage


@settings(max_examples=200, deadline=None)
@given(st.floats(-3000.0, 3000.0), st.floats(0.0, 0.1))
def test_i2r_heat_is_the_resistive_part_of_the_loss(bus_w, resistance_ohm):
    battery_w, i2r_w = cell_side_w(bus_w, *converter(RATED_W, CURVE_LOAD, CURVE_EFF, resistance_ohm, VOLTAGE_V))
    lossless_w, no_heat_w = cell_side_w(bus_w, *converter(RATED_W, CURVE_LOAD, CURVE_EFF, 0.0, VOLTAGE_V))
    assert no_heat_w == 0.0 and i2r_w >= 0.0
    assert battery_w == pytest.approx(lossless_w + i2r_w)  # the rest of the loss is the DC-DC module's


@settings(max_examples=200, deadline=None)
@given(curves(), st.one_of(st.just(0.0), st.floats(1e-3, 5000.0)), st.floats(0.0, 0.1), st.floats(10.0, 800.0))
def test_the_set_up_battery_side_at_rating_is_the_compiled_one_exactly(curve, rated_w, resistance_ohm, voltage_v):
    # The set-up computes it in plain Python; the loop's shortcut relies on it being cell_side_w's number, bit for bit.
    loads, effs = curve
    module = converter(rated_w, loads, effs, resistance_ohm, voltage_v)
    compiled_w = cell_side_w(rated_w, *module)[0]
    assert python_function(cell_side_w)(rated_w, *module)[0] == compiled_w


def _cell_side_by_division(bus_w, rated_w, loads, effs, resistance_ohm, voltage_v):
    """The conversion as first written, dividing per call: load share, interpolation, efficiency, cell current."""
    if bus_w == 0.0:
        return 0.0, 0.0
    efficiency = float(np.interp(abs(bus_w) / rated_w if rated_w > 0.0 else 1.0, loads, effs))
    cell_w = bus_w / efficiency if bus_w > 0.0 else bus_w * efficiency
    i2r_w = (cell_w / voltage_v) ** 2 * resistance_ohm
    return cell_w + i2r_w, i2r_w


@settings(max_examples=300, deadline=None)
@given(
    curves(),
    st.floats(-6000.0, 6000.0),
    st.one_of(st.just(0.0), st.floats(1.0, 5000.0)),
    st.floats(0.0, 0.5),
    st.floats(10.0, 800.0),
)
def test_the_reciprocal_conversion_is_the_dividing_one_within_1e_12(curve, bus_w, rated_w, resistance_ohm, voltage_v):
    # 1 / rating, R / V^2 and the segment slopes are computed once; each multiplication by them is within an ulp or
    # two of the division it replaces, and the interpolation is continuous, so the results stay within 1e-12.
    loads, effs = curve
    battery_w, i2r_w = cell_side_w(bus_w, *converter(rated_w, loads, effs, resistance_ohm, voltage_v))
    expected_battery_w, expected_i2r_w = _cell_side_by_division(bus_w, rated_w, loads, effs, resistance_ohm, voltage_v)
    assert battery_w == pytest.approx(expected_battery_w, rel=1e-12, abs=1e-12)
    assert i2r_w == pytest.approx(expected_i2r_w, rel=1e-12, abs=1e-12)


def test_losses_grow_with_resistance():
    assert _battery_w(1000.0, 0.1) > _battery_w(1000.0, 0.01) > _battery_w(1000.0, 0.0) > 1000.0


def _step(energy_wh, capacity_wh, bus_w, standby_w, step_s, resistance_ohm=0.02):
    """:func:`step_pack` on the curve above: ``(energy_after_wh, bus_w, battery_w, loss_w, i2r_w, standby_w)``."""
    return step_pack(
        energy_wh, capacity_wh, bus_w, standby_w, step_s, *converter(RATED_W, CURVE_LOAD, CURVE_EFF, resistance_ohm, VOLTAGE_V)
    )


@settings(max_examples=500, deadline=None)
@given(
    capacity_wh=st.floats(10.0, 20000.0),
    soc=st.floats(0.0, 1.0),
    bus_w=st.floats(-1500.0, 1500.0),
    standby_w=st.floats(0.0, 20.0),
    step_s=st.sampled_from([1.0, 10.0, 60.0, 300.0, 900.0, 3600.0]),
    resistance_ohm=st.floats(0.0, 0.1),
)
def test_step_conserves_energy_and_stays_within_the_cells(capacity_wh, soc, bus_w, standby_w, step_s, resistance_ohm):
    energy_wh = soc * capacity_wh
    result = _step(energy_wh, capacity_wh, bus_w, standby_w, step_s, resistance_ohm)
    after_wh, bus_actual_w, battery_w, loss_w, i2r_w, standby_actual_w = result
    tol_wh = 1e-9 * max(capacity_wh, 1.0)
    assert -tol_wh <= after_wh <= capacity_wh + tol_wh
    assert after_wh == pytest.approx(energy_wh - (bus_actual_w + loss_w + standby_actual_w) * step_s / 3600.0, abs=tol_wh)
    assert battery_w == pytest.approx(bus_actual_w + loss_w, abs=1e-9)
    assert loss_w >= 0.0 and 0.0 <= i2r_w <= loss_w and 0.0 <= standby_actual_w <= standby_w
    # the pack delivers at most what was asked, in the same direction (less when its BMS stops it)
    assert abs(bus_actual_w) <= abs(bus_w) + 1e-9 and bus_actual_w * bus_w >= 0.0


def test_an_empty_pack_delivers_nothing_and_a_full_one_takes_nothing():
    after_wh, bus_w, _, _, _, standby_w = _step(0.0, 1920.0, 800.0, 2.0, 60.0)
    assert (after_wh, bus_w, standby_w) == (0.0, 0.0, 0.0)
    after_wh, bus_w, _, _, _, _ = _step(1920.0, 1920.0, -800.0, 0.0, 60.0)
    assert after_wh == pytest.approx(1920.0) and bus_w == pytest.approx(0.0, abs=1e-9)


def test_a_pack_near_empty_delivers_what_its_cells_hold():
    # 5 Wh left, 1000 W asked for an hour: the cells give their 5 Wh and stop at 0
    after_wh, bus_w, battery_w, loss_w, _, _ = _step(5.0, 1920.0, 1000.0, 0.0, 3600.0)
    assert after_wh == pytest.approx(0.0, abs=1e-9)
    assert battery_w == pytest.approx(5.0) and 0.0 < bus_w < 5.0 and loss_w > 0.0


@settings(max_examples=300, deadline=None)
@given(curves(), st.lists(st.floats(-0.5, 2.0), min_size=1, max_size=10))
def test_the_slopes_computed_once_give_the_per_call_division_bit_for_bit(curve, fractions):
    loads, effs = curve
    slope = curve_slopes(loads, effs)
    for fraction in fractions:
        j = int(np.searchsorted(loads, fraction, side="right")) - 1
        if 0 <= j < len(loads) - 1 and loads[j] < fraction:
            by_division = (effs[j + 1] - effs[j]) / (loads[j + 1] - loads[j]) * (fraction - loads[j]) + effs[j]
            assert dcdc_efficiency(fraction, loads, effs, slope) == by_division
