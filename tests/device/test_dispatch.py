"""What the device asks of its batteries: follow-load vs fixed output, PV first to the output, AC backup band."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socbal.device.dispatch import (
    AC_MIN_SHARE,
    AC_SIZING_EFFICIENCY,
    MODE_FIXED_OUTPUT,
    MODE_FOLLOW_LOAD,
    device_request,
)
from socbal.ems.kernel import SOURCE_AC, SOURCE_PV, SOURCE_PV_AC

DEVICE = {
    "grid_on": True,
    "total_soc_pct": 50.0,
    "total_capacity_wh": 3840.0,
    "mode": MODE_FOLLOW_LOAD,
    "fixed_output_w": 0.0,
    "ac_output_limit_w": 800.0,
    "pv_input_limit_w": 2000.0,
    "ac_charge_limit_w": 1200.0,
    "reserve_pct": 10.0,
    "backup_band_pct": 1.0,
    "backup_was_on": False,
    "step_s": 60.0,
}


def request(load_w: float, pv_w: float, **changes) -> dict:
    """:func:`device_request` with the device above (``changes`` override it), its ``Dispatch`` as a dict."""
    args = {**DEVICE, **changes}
    return device_request(
        load_w,
        pv_w,
        args["grid_on"],
        args["total_soc_pct"],
        args["total_capacity_wh"],
        args["mode"],
        args["fixed_output_w"],
        args["ac_output_limit_w"],
        args["pv_input_limit_w"],
        args["ac_charge_limit_w"],
        args["reserve_pct"],
        args["backup_band_pct"],
        args["backup_was_on"],
        args["step_s"],
    )._asdict()


def test_follow_load_discharges_the_load_less_pv_within_the_output_limit():
    assert request(500.0, 0.0)["request_w"] == 500.0
    assert request(1500.0, 0.0)["request_w"] == 800.0  # AC output limit
    r = request(500.0, 200.0)
    assert (r["request_w"], r["pv_to_output_w"]) == (300.0, 200.0)  # PV first to the output, batteries the rest


def test_pv_beyond_the_output_charges_the_batteries():
    r = request(300.0, 1000.0)
    assert r["pv_to_output_w"] == 300.0 and r["request_w"] == -700.0 and r["source"] == SOURCE_PV
    r = request(300.0, 3000.0)  # PV input limit
    assert r["pv_usable_w"] == 2000.0 and r["request_w"] == -1700.0


def test_fixed_output_ignores_the_load_but_not_the_limit_and_never_exports_off_grid():
    assert request(100.0, 0.0, mode=MODE_FIXED_OUTPUT, fixed_output_w=600.0)["request_w"] == 600.0
    assert request(100.0, 0.0, mode=MODE_FIXED_OUTPUT, fixed_output_w=1000.0)["request_w"] == 800.0
    assert request(100.0, 0.0, mode=MODE_FIXED_OUTPUT, fixed_output_w=600.0, grid_on=False)["request_w"] == 100.0
    r = request(100.0, 400.0, mode=MODE_FIXED_OUTPUT, fixed_output_w=600.0)
    assert (r["pv_to_output_w"], r["request_w"]) == (400.0, 200.0)


@settings(max_examples=300, deadline=None)
@given(
    load_w=st.floats(0.0, 5000.0),
    pv_w=st.floats(0.0, 5000.0),
    fixed=st.booleans(),
    fixed_output_w=st.floats(0.0, 3000.0),
    grid_on=st.booleans(),
)
def test_outside_backup_the_request_is_the_output_target_less_usable_pv(load_w, pv_w, fixed, fixed_output_w, grid_on):
    mode = MODE_FIXED_OUTPUT if fixed else MODE_FOLLOW_LOAD
    r = request(load_w, pv_w, mode=mode, fixed_output_w=fixed_output_w, grid_on=grid_on)
    target_w = min(fixed_output_w, 800.0) if fixed else min(load_w, 800.0)
    if fixed and not grid_on:
        target_w = min(target_w, load_w)
    assert not r["backup"] and r["source"] == SOURCE_PV and r["output_target_w"] == target_w
    assert r["pv_usable_w"] == min(pv_w, 2000.0)
    assert r["pv_to_output_w"] == min(r["pv_usable_w"], target_w)
    assert r["request_w"] == pytest.approx(target_w - r["pv_usable_w"])


def test_backup_band_switches_on_below_the_band_and_off_at_the_reserve():
    assert not request(300.0, 0.0, total_soc_pct=9.5)["backup"]  # inside the band: not yet
    on = request(300.0, 0.0, total_soc_pct=8.9)
    assert on["backup"] and on["request_w"] < 0.0 and on["source"] == SOURCE_AC  # the grid serves the house
    assert request(300.0, 0.0, total_soc_pct=9.5, backup_was_on=True)["backup"]  # once on, until the reserve
    assert not request(300.0, 0.0, total_soc_pct=10.0, backup_was_on=True)["backup"]
    assert not request(300.0, 0.0, total_soc_pct=5.0, grid_on=False)["backup"]  # no grid, no AC charging
    assert not request(300.0, 0.0, total_soc_pct=5.0, ac_charge_limit_w=0.0)["backup"]


def test_backup_charging_is_sized_to_reach_the_reserve_plus_the_pv_surplus():
    deficit_wh = (10.0 - 9.0) / 100.0 * 3840.0
    sized_w = deficit_wh * 3600.0 / 60.0 / AC_SIZING_EFFICIENCY
    assert request(300.0, 0.0, total_soc_pct=9.0, backup_band_pct=0.5)["request_w"] == pytest.approx(-min(1200.0, sized_w))
    small = request(300.0, 0.0, total_soc_pct=9.99, backup_was_on=True, step_s=3600.0)
    assert small["request_w"] == pytest.approx(-AC_MIN_SHARE * 1200.0)  # a floor, so standby cannot stall it
    with_pv = request(300.0, 500.0, total_soc_pct=5.0)
    assert with_pv["request_w"] == pytest.approx(-(200.0 + 1200.0))  # surplus after the output, plus AC at its limit
    assert with_pv["source"] == SOURCE_PV_AC
