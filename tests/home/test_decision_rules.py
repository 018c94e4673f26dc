"""The home decision's rules, case by case (DESIGN.md, "Homes with several devices")."""

import pytest
from pydantic import ValidationError

from tests.home.helpers import carry, decide, device


def test_two_2400w_devices_carry_a_3000w_load_the_fuller_one_filled_first():
    # socbal (auto): the fuller device is filled to its efficient power (here its rating), the next takes the rest
    filled = [device("a", 80, efficient_discharge_w=2400), device("b", 40, efficient_discharge_w=2400)]
    powers, d = decide(filled, {"discharge_w": 3000})
    assert powers == pytest.approx({"a": 2400.0, "b": 600.0})
    assert d.served_w == pytest.approx(3000.0) and d.unserved_w == 0.0
    # efficient powers 0 (no fill): both staged on, the whole request by usable energy, adding up exactly
    powers, d = decide(
        [device("a", 80, efficient_discharge_w=0), device("b", 40, efficient_discharge_w=0)], {"discharge_w": 3000}
    )
    assert powers == {"a": 2100.0, "b": 900.0} and d.served_w == 3000.0
    # shared by usable energy above the 10 % reserve (3500 Wh vs 1500 Wh -> 70 % / 30 %) with always-share
    powers, _ = decide([device("a", 80), device("b", 40)], {"discharge_w": 3000}, staging="always-share")
    assert powers == pytest.approx({"a": 2100.0, "b": 900.0})


def test_beyond_every_efficient_power_the_rest_is_shared_by_usable_energy():
    devices = [device("a", 80, efficient_discharge_w=1000), device("b", 40, efficient_discharge_w=1000)]
    powers, d = decide(devices, {"discharge_w": 3000})
    # each filled to 1000 W first; the other 1000 W by usable energy (3500 : 1500), within 2400 W each
    assert powers == pytest.approx({"a": 1700.0, "b": 1300.0})
    # 1500 W is below 80 % of a's rating: b is not staged on, a takes it all
    powers, d = decide(devices, {"discharge_w": 1500})
    assert powers == pytest.approx({"a": 1500.0, "b": 0.0}) and not d.devices[1].staged_on


def test_charging_fills_the_emptier_device_to_a_good_load_before_the_next():
    """Charge-side staging: two devices charging together at part load run every DC-DC module low on its curve."""
    devices = [
        device("full-ish", 70, max_w=1200, staged_on=True, last_setpoint_w=-500, efficient_charge_w=2400),
        device("empty-ish", 30, max_w=1200, staged_on=True, last_setpoint_w=-500, efficient_charge_w=2400),
    ]
    powers, d = decide(devices, {"charge_w": 1000})
    assert powers == pytest.approx({"full-ish": 0.0, "empty-ish": -1000.0})
    assert "standing by" in d.devices[0].reason and d.devices[0].staged_on
    powers, _ = decide(devices, {"charge_w": 1500})
    assert powers == pytest.approx({"full-ish": -300.0, "empty-ish": -1200.0})


def test_the_device_carrying_the_load_keeps_it_until_another_leads_by_the_soc_lead():
    both = dict(staged_on=True, since_stage_change_s=600.0, efficient_discharge_w=2400)
    devices = [device("a", 48, last_setpoint_w=1000, **both), device("b", 52, last_setpoint_w=0, **both)]
    powers, _ = decide(devices, {"discharge_w": 1000}, soc_lead_pct=10)
    assert powers == pytest.approx({"a": 1000.0, "b": 0.0})  # b leads by 4 points only: no swap at every crossing
    devices[1]["soc_pct"] = 59
    powers, _ = decide(devices, {"discharge_w": 1000}, soc_lead_pct=10)
    assert powers == pytest.approx({"a": 0.0, "b": 1000.0})  # 11 points: b takes its turn


def test_a_capped_device_passes_its_share_on():
    powers, d = decide([device("a", 80, max_w=1000), device("b", 40)], {"discharge_w": 3000})
    assert powers == pytest.approx({"a": 1000.0, "b": 2000.0})
    assert "device's limit" in d.devices[0].reason


def test_usable_energy_is_judged_on_the_weakest_pack():
    # a: average 15 %, its weakest pack at the 10 % reserve: empty for the home; b takes everything
    devices = [device("a", 15, weakest_pack_soc_pct=10), device("b", 40)]
    powers, d = decide(devices, {"discharge_w": 1500})
    assert powers == pytest.approx({"a": 0.0, "b": 1500.0})
    assert "reserve" in d.devices[0].reason
    # the peer baseline looks at the average SOC and still commands a
    powers, _ = decide(devices, {"discharge_w": 1500}, strategy="power-limit-soc", staging="always-share")
    assert powers["a"] > 0.0


def test_charging_gives_the_emptier_device_more():
    powers, _ = decide([device("full-ish", 80), device("empty-ish", 20)], {"charge_w": 1000}, staging="always-share")
    # room below full: 1000 Wh vs 4000 Wh
    assert powers == pytest.approx({"full-ish": -200.0, "empty-ish": -800.0})


def test_a_full_device_takes_no_charge_and_one_at_reserve_gives_nothing():
    powers, d = decide([device("full", 100), device("b", 50)], {"charge_w": 500}, staging="always-share")
    assert powers == pytest.approx({"full": 0.0, "b": -500.0}) and "full" in d.devices[0].reason
    powers, d2 = decide([device("low", 30, reserve_pct=30), device("b", 50)], {"discharge_w": 500}, staging="always-share")
    assert powers == pytest.approx({"low": 0.0, "b": 500.0})
    # neither can take part: the most each could get this cycle is 0 W, not its 2400 W device limit
    assert (d.devices[0].limit_w, d2.devices[0].limit_w) == (0.0, 0.0)
    assert d.devices[1].limit_w == d2.devices[1].limit_w == 2400.0


def test_offline_device_is_excluded_and_the_others_cover():
    powers, d = decide([device("a", 80, online=False), device("b", 40)], {"discharge_w": 1000})
    assert powers == pytest.approx({"a": 0.0, "b": 1000.0}) and "offline" in d.devices[0].reason


def test_circuit_limit_caps_the_devices_on_it_and_the_rest_goes_elsewhere():
    devices = [device("a", 80, circuit="A"), device("b", 80, circuit="A"), device("c", 40)]
    powers, d = decide(devices, {"discharge_w": 4000}, circuits=[{"id": "A", "max_w": 2000}], staging="always-share")
    assert powers["a"] + powers["b"] == pytest.approx(2000.0)
    assert powers["c"] == pytest.approx(2000.0) and d.unserved_w == pytest.approx(0.0)
    assert "circuit" in d.devices[0].reason


def test_small_load_runs_on_one_device_and_a_large_one_on_both():
    devices = [device("a", 60, max_w=2500, efficient_discharge_w=2500), device("b", 50, max_w=2500, efficient_discharge_w=2500)]
    powers, d = decide(devices, {"discharge_w": 600})
    assert powers == pytest.approx({"a": 600.0, "b": 0.0}) and "staged off" in d.devices[1].reason
    powers, _ = decide(devices, {"discharge_w": 600}, staging="always-share")
    assert powers["a"] > 0 and powers["b"] > 0
    powers, d = decide(devices, {"discharge_w": 2100})  # above 80 % of one device's rating: b staged on, ready
    assert powers == pytest.approx({"a": 2100.0, "b": 0.0}) and d.devices[1].staged_on
    powers, _ = decide(devices, {"discharge_w": 2600})  # beyond a's rating: b takes the rest
    assert powers == pytest.approx({"a": 2500.0, "b": 100.0})


def test_staging_hysteresis_and_hold():
    devices = [device("a", 60, max_w=2500), device("b", 50, max_w=2500)]
    _, d = decide(devices, {"discharge_w": 2100}, hold_s=60)
    both = carry(devices, d, elapsed_s=10)
    # 1500 W: between the thresholds (40 % and 80 % of 2500 W): both stay staged (a carries it, b stands by)
    powers, d = decide(both, {"discharge_w": 1500}, hold_s=60)
    assert all(x.staged_on for x in d.devices) and sum(powers.values()) == pytest.approx(1500.0)
    # 900 W: one could run below 40 %, but b's hold (60 s since it joined) has not passed
    still = carry(both, d, elapsed_s=10)
    powers, d = decide(still, {"discharge_w": 900}, hold_s=60)
    assert d.devices[1].staged_on
    later = carry(still, d, elapsed_s=60)
    powers, d = decide(later, {"discharge_w": 900}, hold_s=60)
    assert powers == pytest.approx({"a": 900.0, "b": 0.0}) and not d.devices[1].staged_on


def test_the_staged_device_keeps_running_until_another_leads_it_by_the_soc_lead():
    running = [device("a", 50, staged_on=True, last_setpoint_w=500), device("b", 55)]
    powers, _ = decide(running, {"discharge_w": 500}, soc_lead_pct=10)
    assert powers == pytest.approx({"a": 500.0, "b": 0.0})
    running[1]["soc_pct"] = 61  # b now leads by 11 points: it takes over (rotation)
    powers, _ = decide(running, {"discharge_w": 500}, soc_lead_pct=10, hold_s=0)
    assert powers["b"] > 0


def test_the_next_device_joins_before_the_running_one_runs_out():
    # a has 30 Wh above its reserve: at 1500 W that lasts 72 s, less than the 300 s handover lead
    devices = [device("a", 10.6, staged_on=True, last_setpoint_w=1500), device("b", 50)]
    powers, _ = decide(devices, {"discharge_w": 1500}, soc_lead_pct=100)
    assert powers["b"] > 0
    powers, _ = decide(devices, {"discharge_w": 1500}, soc_lead_pct=100, handover_lead_s=0)
    assert powers["b"] == 0.0


def test_a_device_running_out_hands_its_whole_share_to_the_next():
    # a: 30 Wh above its reserve, 72 s at its 1500 W share (< the 300 s lead): b gets all, a only what b cannot serve
    devices = [device("a", 10.6, staged_on=True, last_setpoint_w=1500), device("b", 50)]
    powers, d = decide(devices, {"discharge_w": 1500}, soc_lead_pct=100)  # also where efficient powers are unknown
    assert powers == pytest.approx({"a": 0.0, "b": 1500.0}) and "handing over" in d.devices[0].reason
    for x in devices:
        x["efficient_discharge_w"] = 2400
    powers, d = decide(devices, {"discharge_w": 1500}, soc_lead_pct=100)
    assert powers == pytest.approx({"a": 0.0, "b": 1500.0}) and "handing over" in d.devices[0].reason
    powers, _ = decide(devices, {"discharge_w": 3000}, soc_lead_pct=100)
    assert powers == pytest.approx({"a": 600.0, "b": 2400.0})
    # 30 Wh lasts 360 s at 300 W: a keeps a 300 W load
    powers, _ = decide(devices, {"discharge_w": 300}, soc_lead_pct=100)
    assert powers == pytest.approx({"a": 300.0, "b": 0.0})


def test_a_joining_device_ramps_in_while_the_others_cover_the_rest():
    devices = [device("a", 50, staged_on=True, last_setpoint_w=1000), device("b", 50)]
    powers, d = decide(devices, {"discharge_w": 3000}, ramp_w_per_s=100, cycle_s=2)
    # b may grow by 200 W this cycle, a by 200 W too: 1200 + 200; the rest is unserved for now
    assert powers == pytest.approx({"a": 1200.0, "b": 200.0})
    assert "ramp" in d.devices[1].reason


def test_a_device_not_following_is_counted_at_what_it_delivers():
    devices = [
        device("a", 50, staged_on=True, last_setpoint_w=800, measured_w=0, since_write_s=30),
        device("b", 50, staged_on=True, last_setpoint_w=800, since_write_s=30),
    ]
    powers, d = decide(devices, {"discharge_w": 1600}, staging="always-share")
    assert powers == pytest.approx({"a": 800.0, "b": 1600.0})  # a keeps its setpoint, b covers all
    assert d.devices[0].credited_w == 0.0 and d.served_w == pytest.approx(1600.0)
    assert "not following" in d.devices[0].reason and not d.devices[0].written


def test_pacing_holds_inside_the_write_interval_and_within_the_deadband():
    base = dict(staged_on=True, min_write_interval_s=10)
    devices = [device("a", 50, last_setpoint_w=800, since_write_s=3, **base), device("b", 50, last_setpoint_w=800, **base)]
    powers, d = decide(devices, {"discharge_w": 1700}, staging="always-share", deadband_w=0)
    assert powers == pytest.approx({"a": 800.0, "b": 900.0})  # a is inside its interval: b takes the change
    assert "pacing" in d.devices[0].reason and not d.devices[0].written and d.devices[1].written
    devices[0]["since_write_s"] = 30
    powers, d = decide(devices, {"discharge_w": 1610}, staging="always-share", deadband_w=10)
    assert not d.devices[0].written and not d.devices[1].written  # a 5 W change per device is not written
    assert d.served_w == pytest.approx(1600.0) and d.unserved_w == pytest.approx(10.0)  # at most the deadband each
    powers, d = decide(devices, {"discharge_w": 1590}, staging="always-share", deadband_w=10)
    assert powers == pytest.approx({"a": 795.0, "b": 795.0})  # held setpoints never over-serve: written


def test_a_direction_change_is_always_written():
    devices = [device("a", 50, staged_on=True, last_setpoint_w=800, since_write_s=1, min_write_interval_s=10)]
    powers, d = decide(devices, {"charge_w": 300}, strategy="equal")
    assert powers == pytest.approx({"a": -300.0}) and d.devices[0].written
    powers, d = decide(devices, {"charge_w": 300})  # socbal: the stop first, inside the write interval too
    assert powers == {"a": 0.0} and d.devices[0].written and "direction change" in d.devices[0].reason


def test_a_direction_change_waits_until_every_device_is_at_zero():
    """socbal's interlock: nobody is commanded the new way while a device still moves the old way, measured or
    commanded, or was stopped from it less than follow_s ago."""
    devices = [
        device("a", 60, staged_on=True, last_setpoint_w=900, since_write_s=30),
        device("b", 50, staged_on=True, last_setpoint_w=700, since_write_s=30),
    ]
    request = {"charge_w": 1000}
    powers, d = decide(devices, request)
    assert powers == {"a": 0.0, "b": 0.0} and d.served_w == 0.0 and d.unserved_w == 1000.0
    assert all(x.written and x.last_moving_setpoint_w > 0 for x in d.devices)
    stopped, stop = devices, d
    # 10 s later: a is at 0 W, b still delivers 300 W (it does not follow): still nobody charges
    powers, d = decide(carry(stopped, stop, 10.0, measured={"a": 0.0, "b": 300.0}), request)
    assert powers == {"a": 0.0, "b": 0.0} and not any(x.written for x in d.devices)
    # both measured at 0, but stopped only 4 s ago (< follow_s = 5): a stop may still be in flight
    assert decide(carry(stopped, stop, 4.0, measured={"a": 0.0, "b": 0.0}), request)[0] == {"a": 0.0, "b": 0.0}
    powers, d = decide(carry(stopped, stop, 6.0, measured={"a": 0.0, "b": 0.0}), request)
    assert sum(powers.values()) == pytest.approx(-1000.0) and all(p <= 0.0 for p in powers.values())
    # within follow_tolerance_w of 0 counts as stopped
    devices = [device("a", 60, measured_w=20.0), device("b", 50, measured_w=30.0)]
    assert decide(devices, request)[0] == {"a": 0.0, "b": 0.0}
    assert sum(decide(devices, request, follow_tolerance_w=40.0)[0].values()) == pytest.approx(-1000.0)


def test_no_request_sets_every_device_to_zero():
    devices = [device("a", 50, staged_on=True, last_setpoint_w=800, since_write_s=1, min_write_interval_s=10)]
    powers, _ = decide(devices, {"discharge_w": 0})
    assert powers == {"a": 0.0}


@pytest.mark.parametrize("request_", [{"discharge_w": 0}, {"charge_w": 0}])
@pytest.mark.parametrize("strategy", ["socbal", "equal", "sequential", "power-limit-soc"])
def test_a_0w_request_says_idle_for_every_online_device_not_full_or_staged_off(request_, strategy):
    # as the one-device EMS says for its packs: no direction was asked for, so no direction's reason applies
    devices = [device("a", 80), device("full", 100), device("empty", 5), device("off", 50, online=False)]
    powers, d = decide(devices, request_, strategy=strategy)
    assert set(powers.values()) == {0.0}
    reasons = {x.id: x.reason for x in d.devices}
    assert reasons == {"a": "idle: nothing requested (0 W)", "full": "idle: nothing requested (0 W)",
                       "empty": "idle: nothing requested (0 W)", "off": "excluded: offline"}  # fmt: skip


def test_baselines_equal_and_sequential():
    devices = [device("a", 80), device("b", 40)]
    powers, _ = decide(devices, {"discharge_w": 1000}, strategy="equal")
    assert powers == pytest.approx({"a": 500.0, "b": 500.0})
    powers, d = decide(devices, {"discharge_w": 3000}, strategy="sequential")
    assert powers == pytest.approx({"a": 2400.0, "b": 0.0})  # one at a time: the grid covers the rest
    assert d.unserved_w == pytest.approx(600.0) and "one device at a time" in d.devices[1].reason


def test_power_limit_soc_weights_rated_power_times_soc():
    devices = [device("a", 80, max_w=1000, rated_discharge_w=2000), device("b", 40, max_w=2000)]
    powers, _ = decide(devices, {"discharge_w": 1200}, strategy="power-limit-soc", staging="always-share")
    # weights 2000 x 80 and 2000 x 40: 800 W and 400 W, whatever a says it can do now
    assert powers == pytest.approx({"a": 800.0, "b": 400.0})


@pytest.mark.parametrize(
    "change, field",
    [
        ({"devices": [device("a", 50, circuit="X")]}, "devices[0].circuit"),
        ({"devices": [device("a", 50), device("a", 40)]}, "devices[1].id"),
        ({"devices": [device("a", 50, weakest_pack_soc_pct=60)]}, "devices[0].weakest_pack_soc_pct"),
        ({"settings": {"stage_up_pct": 50, "stage_down_pct": 60}}, "settings.stage_down_pct"),
        ({"request": {"discharge_w": 5, "charge_w": 5}}, "request"),
    ],
)
def test_bad_input_names_the_field(change, field):
    from socbal.errors import describe_validation_error
    from socbal.home.models import HomeAllocateInput

    raw = {"devices": [device("a", 50)], "request": {"discharge_w": 100}, **change}
    with pytest.raises(ValidationError) as err:
        HomeAllocateInput.model_validate(raw)
    assert describe_validation_error(err.value).startswith(field)
