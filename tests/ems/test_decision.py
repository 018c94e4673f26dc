"""The spec's rules for one EMS decision, case by case."""

import pytest
from pydantic import ValidationError

from socbal.ems.decision import decide
from socbal.ems.models import AllocateInput, parse_ems_version, prioritises_low_packs


def pack(pid: str, soc: float, capacity_wh: float = 1920.0, max_w: float = 1200.0, **extra) -> dict:
    """A pack dict in the allocate contract's shape."""
    return {"id": pid, "soc_pct": soc, "capacity_wh": capacity_wh, "max_discharge_w": max_w, "max_charge_w": max_w, **extra}


def run(packs: list[dict], request: dict, **settings):
    """Decide and return (powers by id, decision)."""
    decision = decide(AllocateInput.model_validate({"settings": settings, "packs": packs, "request": request}))
    return {p.id: p.power_w for p in decision.packs}, decision


def test_spec_example_80_40_900w_gives_600_300():
    powers, d = run([pack("main", 80), pack("p1", 40)], {"discharge_w": 900}, backup_reserve_pct=10, ems_version="1.01.05")
    assert powers == pytest.approx({"main": 600.0, "p1": 300.0})
    assert d.served_w == pytest.approx(900.0) and d.unserved_w == 0.0
    assert [p.state for p in d.packs] == ["discharging", "discharging"]


def test_charging_gives_lower_soc_more():
    powers, _ = run([pack("a", 80), pack("b", 40)], {"charge_w": 800, "source": "pv"}, strategy="soc-proportional")
    # soc-proportional weights 100 - SOC: 20 vs 60 -> 200 W vs 600 W, negative = charging
    assert powers == pytest.approx({"a": -200.0, "b": -600.0})
    powers, _ = run([pack("a", 80), pack("b", 40)], {"charge_w": 800, "source": "pv"})
    # the default softens it: room 20 vs 60 -> 20/(1+20/210) : 60/(1+60/210), negative = charging
    wa, wb = 20 / (1 + 20 / 210), 60 / (1 + 60 / 210)
    assert powers == pytest.approx({"a": -800 * wa / (wa + wb), "b": -800 * wb / (wa + wb)})


def test_capacity_in_weights_moves_soc_not_watts_equally():
    powers, _ = run([pack("big", 50, capacity_wh=3840), pack("small", 50, capacity_wh=1920)], {"discharge_w": 900})
    assert powers["big"] == pytest.approx(2 * powers["small"])


def test_pack_at_reserve_stands_by_and_others_carry_the_whole_request():
    powers, d = run([pack("main", 10), pack("p1", 50), pack("p2", 60)], {"discharge_w": 1100}, backup_reserve_pct=10)
    assert powers["main"] == 0.0 and d.packs[0].state == "standby"
    assert "reserve" in d.packs[0].reason
    assert powers["p1"] + powers["p2"] == pytest.approx(1100.0)


def test_pack_below_reserve_does_not_discharge_even_if_only_one():
    powers, d = run([pack("main", 4.9)], {"discharge_w": 100}, backup_reserve_pct=5)
    assert powers == {"main": 0.0}
    assert d.unserved_w == pytest.approx(100.0)


def test_capped_pack_share_goes_to_the_others():
    # p1 would get 600 W by weight, but its DC-DC allows 400 W: the rest goes to p2.
    powers, d = run([pack("p1", 80, max_w=400), pack("p2", 40)], {"discharge_w": 900})
    assert powers == pytest.approx({"p1": 400.0, "p2": 500.0})
    assert "capped" in d.packs[0].reason


def test_request_beyond_all_limits_is_reported_unserved():
    powers, d = run([pack("a", 80, max_w=300), pack("b", 40, max_w=200)], {"discharge_w": 900})
    assert powers == pytest.approx({"a": 300.0, "b": 200.0})
    assert d.served_w == pytest.approx(500.0) and d.unserved_w == pytest.approx(400.0)


def test_full_pack_takes_no_charge():
    powers, d = run([pack("full", 100), pack("b", 40)], {"charge_w": 500, "source": "pv+ac"})
    assert powers == pytest.approx({"full": 0.0, "b": -500.0})
    assert "full" in d.packs[0].reason


def test_pv_charging_charges_every_non_full_pack_together():
    powers, _ = run([pack("a", 95), pack("b", 5), pack("c", 50)], {"charge_w": 300, "source": "pv"}, backup_reserve_pct=30)
    assert all(p < 0 for p in powers.values())


def test_ac_charging_stops_when_total_soc_reaches_reserve():
    # total SOC = (10 + 50) / 2 = 30 = reserve: AC-only charging is off
    powers, d = run([pack("a", 10), pack("b", 50)], {"charge_w": 500, "source": "ac"}, backup_reserve_pct=30)
    assert powers == {"a": 0.0, "b": 0.0}
    assert d.unserved_w == pytest.approx(500.0)
    assert "AC-only" in d.packs[0].reason


def test_ac_charging_old_firmware_charges_all_packs_together():
    powers, _ = run(
        [pack("a", 10), pack("b", 40)], {"charge_w": 500, "source": "ac"}, backup_reserve_pct=30, ems_version="1.01.04"
    )
    assert powers["a"] < 0 and powers["b"] < 0


def test_ac_charging_new_firmware_charges_packs_below_reserve_first():
    powers, _ = run(
        [pack("a", 10), pack("b", 40)], {"charge_w": 500, "source": "ac"}, backup_reserve_pct=30, ems_version="1.01.05"
    )
    assert powers == pytest.approx({"a": -500.0, "b": 0.0})


def test_ac_charging_new_firmware_counts_a_pack_a_rounding_hair_below_the_reserve_as_at_it():
    # A pack that discharged to the reserve lands up to ~1.4e-7 points below it: it was filled as a pack below the
    # reserve (emulate_80_40.toml: the main unit took half the AC charge and ended 0.5 points above the reserve,
    # the pack really below it 0.46 points below).
    packs = [pack("main", 10.0 - 1.4e-7), pack("p1", 8.0)]
    powers, _ = run(packs, {"charge_w": 500, "source": "ac"}, backup_reserve_pct=10, ems_version="1.01.05")
    assert powers == pytest.approx({"main": 0.0, "p1": -500.0})
    powers, _ = run([pack("main", 9.99), pack("p1", 8.0)], {"charge_w": 500, "source": "ac"}, backup_reserve_pct=10)
    assert powers["main"] < 0.0  # a hundredth of a point below is below


def test_ac_charging_new_firmware_gives_the_rest_to_others_when_low_packs_are_capped():
    powers, _ = run(
        [pack("a", 10, max_w=200), pack("b", 40)], {"charge_w": 500, "source": "ac"}, backup_reserve_pct=30, ems_version="1.1.5"
    )
    assert powers == pytest.approx({"a": -200.0, "b": -300.0})


@pytest.mark.parametrize(
    "a,b,expected",
    [
        ("1.01.05", "1.1.5", True),
        ("1.01.04", "1.1.5", False),
        ("1.2", "1.1.5", True),
        ("2", "1.01.05", True),
        ("1.01.05.1", "1.1.5", True),
    ],
)
def test_versions_compare_numerically(a, b, expected):
    assert (parse_ems_version(a) >= parse_ems_version(b)) is expected
    assert prioritises_low_packs(a) is (parse_ems_version(a) >= (1, 1, 5, 0))


@pytest.mark.parametrize("bad", ["1.x", "", "v1.01.05", "1..5", "1.2.3.4.5"])
def test_malformed_version_is_an_input_error(bad):
    with pytest.raises(ValidationError, match="ems_version"):
        run([pack("a", 50)], {"discharge_w": 1}, ems_version=bad)


def test_hysteresis_keeps_a_latched_pack_in_standby_until_reserve_plus_band():
    latched = pack("a", 10.5, reserve_latched=True)
    powers, d = run([latched, pack("b", 50)], {"discharge_w": 500}, backup_reserve_pct=10, reserve_hysteresis_pct=1)
    assert powers["a"] == 0.0 and d.packs[0].reserve_latched
    released = pack("a", 11.0, reserve_latched=True)
    powers, d = run([released, pack("b", 50)], {"discharge_w": 500}, backup_reserve_pct=10, reserve_hysteresis_pct=1)
    assert powers["a"] > 0.0 and not d.packs[0].reserve_latched
    # without the latch the spec's plain rule applies: above the reserve, it discharges
    powers, _ = run([pack("a", 10.5), pack("b", 50)], {"discharge_w": 500}, backup_reserve_pct=10)
    assert powers["a"] > 0.0


def test_droop_shifts_more_to_the_higher_pack_than_spec():
    spec, _ = run([pack("a", 80), pack("b", 40)], {"discharge_w": 900}, strategy="spec")
    droop, _ = run([pack("a", 80), pack("b", 40)], {"discharge_w": 900}, strategy="droop", droop_exponent=2)
    assert droop["a"] == pytest.approx(900 * 6400 / 8000)
    assert droop["a"] > spec["a"]


def test_reserve_aware_shares_by_energy_above_the_reserve():
    powers, _ = run([pack("a", 80), pack("b", 40)], {"discharge_w": 900}, strategy="reserve-aware", backup_reserve_pct=20)
    assert powers == pytest.approx({"a": 675.0, "b": 225.0})  # 60 : 20 points above the reserve
    powers, _ = run([pack("a", 80), pack("b", 30)], {"discharge_w": 700}, strategy="reserve-aware", backup_reserve_pct=20)
    assert powers == pytest.approx({"a": 600.0, "b": 100.0})  # 60 : 10


def test_equal_strategy_ignores_soc():
    powers, _ = run([pack("a", 80), pack("b", 40)], {"discharge_w": 900}, strategy="equal")
    assert powers == pytest.approx({"a": 450.0, "b": 450.0})


def test_priority_strategy_fills_in_order():
    powers, d = run(
        [pack("main", 30, max_w=500), pack("p1", 90), pack("p2", 90)],
        {"discharge_w": 900},
        strategy="priority",
        priority=["main", "p2", "p1"],
    )
    assert powers == pytest.approx({"main": 500.0, "p1": 0.0, "p2": 400.0})
    assert "not needed" in d.packs[1].reason


def test_every_pack_moves_in_the_request_direction():
    powers, _ = run([pack("a", 100), pack("b", 5), pack("c", 60)], {"discharge_w": 700}, backup_reserve_pct=10)
    assert all(p >= 0 for p in powers.values())


def test_zero_request_leaves_every_pack_in_standby():
    _, d = run([pack("a", 80), pack("b", 40)], {"discharge_w": 0})
    assert [p.state for p in d.packs] == ["standby", "standby"] and d.served_w == 0.0


@pytest.mark.parametrize("request_", [{"discharge_w": 0}, {"charge_w": 0, "source": "pv"}])
def test_zero_request_says_nothing_was_requested_in_either_direction(request_):
    # A 0 W request is neither direction: no pack was "served by packs ahead of it" nor "full: takes no charge".
    _, d = run([pack("full", 100), pack("low", 5), pack("mid", 50)], request_, backup_reserve_pct=10)
    assert [p.reason for p in d.packs] == ["idle: nothing requested (0 W)"] * 3
    assert [p.weight for p in d.packs] == [0.0] * 3  # no weight was used
    assert [p.reserve_latched for p in d.packs] == [False, True, False]  # the latch still follows the SOC


def test_min_module_load_switches_off_the_pack_the_rule_gives_least():
    powers, d = run([pack("main", 80), pack("p1", 40)], {"discharge_w": 300}, min_module_load_pct=20)
    # spec shares 200 W / 100 W; 100 W is below 20 % of p1's 1200 W, so main carries it all
    assert powers == pytest.approx({"main": 300.0, "p1": 0.0})
    assert "low power" in d.packs[1].reason and d.packs[1].state == "standby"
    powers, _ = run([pack("main", 80), pack("p1", 40)], {"discharge_w": 900}, min_module_load_pct=20)
    assert powers == pytest.approx({"main": 600.0, "p1": 300.0})  # both well loaded: the spec's split


def test_min_module_load_switches_off_the_fullest_pack_when_charging():
    powers, _ = run([pack("a", 80), pack("b", 40)], {"charge_w": 300, "source": "pv"}, min_module_load_pct=20)
    assert powers == pytest.approx({"a": 0.0, "b": -300.0})


def test_min_module_load_keeps_a_pack_on_when_the_others_cannot_take_its_share():
    powers, d = run([pack("main", 80, max_w=250), pack("p1", 40)], {"discharge_w": 300}, min_module_load_pct=20)
    assert powers["main"] + powers["p1"] == pytest.approx(300.0) and powers["p1"] > 0
    assert d.unserved_w == pytest.approx(0.0)
