"""``socbal allocate`` with a home input (devices instead of packs): the contract, --explain, clear errors."""

import json

import pytest

from tests.test_cli import socbal

HOME_INPUT = {
    "settings": {"strategy": "socbal", "staging": "auto"},
    "devices": [
        {"id": "unit1", "soc_pct": 80, "capacity_wh": 5000, "max_discharge_w": 2400, "max_charge_w": 2400},
        {"id": "unit2", "soc_pct": 40, "capacity_wh": 5000, "max_discharge_w": 2400, "max_charge_w": 2400},
    ],
    "request": {"discharge_w": 3000},
}


def test_home_contract():
    """Efficient powers not given: the fuller unit is filled to its rating first, the other takes the rest."""
    out = socbal("allocate", stdin=json.dumps(HOME_INPUT))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {
        "devices": [
            {"id": "unit1", "power_w": 2400.0, "state": "discharging"},
            {"id": "unit2", "power_w": 600.0, "state": "discharging"},
        ],
        "served_w": 3000.0,
        "unserved_w": 0.0,
    }


@pytest.mark.parametrize("request_w", [900.0, 1234.5, 3000.0])
def test_with_efficient_powers_each_device_is_filled_that_far_first_and_the_shares_add_up_exactly(request_w):
    raw = dict(HOME_INPUT, request={"discharge_w": request_w})
    raw["devices"] = [dict(d, efficient_discharge_w=1200) for d in HOME_INPUT["devices"]]
    out = socbal("allocate", stdin=json.dumps(raw))
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    unit1, unit2 = (d["power_w"] for d in result["devices"])
    assert result["served_w"] == request_w and result["unserved_w"] == 0.0 and unit1 + unit2 == request_w
    if request_w <= 0.8 * 2400:  # staging: one unit serves it at up to 80 % of its rating
        assert (unit1, unit2) == (request_w, 0.0)
    else:  # both run: each filled to 1200 W, the rest shared 7 : 3 by usable energy
        assert unit1 == pytest.approx(1200.0 + 0.7 * (request_w - 2400.0), abs=1e-9)


def test_home_explain_gives_reasons_and_the_state_to_feed_back():
    raw = dict(HOME_INPUT, request={"discharge_w": 600})
    out = socbal("allocate", "--explain", stdin=json.dumps(raw))
    assert out.returncode == 0, out.stderr
    unit1, unit2 = json.loads(out.stdout)["devices"]
    assert unit1["reason"] == "share by weight" and unit1["weight"] == pytest.approx(3500.0)
    assert unit1["staged_on"] is True and unit1["written"] is True and unit1["last_setpoint_w"] == 600.0
    assert unit2["power_w"] == 0.0 and unit2["reason"].startswith("staged off") and unit2["staged_on"] is False
    # fed back, the state keeps unit1 running and unwritten for an unchanged request
    nxt = json.loads(json.dumps(raw))
    for dev, out_dev in zip(nxt["devices"], (unit1, unit2)):
        dev.update({k: out_dev[k] for k in ("staged_on", "since_stage_change_s", "since_write_s", "last_setpoint_w")})
        dev["since_write_s"] += 2.0
        dev["since_stage_change_s"] += 2.0
    again = json.loads(socbal("allocate", "--explain", stdin=json.dumps(nxt)).stdout)["devices"]
    assert again[0]["power_w"] == 600.0 and again[0]["written"] is False


@pytest.mark.parametrize(
    "change, field",
    [
        ({"packs": []}, "packs or devices"),
        ({"devices": [dict(HOME_INPUT["devices"][0], circuit="A")]}, "devices[0].circuit"),
        ({"settings": {"strategy": "round-robin"}}, "settings.strategy"),
        ({"request": {"discharge_w": -5}}, "request.discharge_w"),
    ],
)
def test_home_bad_input_is_one_line_and_exit_2(change, field):
    out = socbal("allocate", stdin=json.dumps(dict(HOME_INPUT, **change)))
    assert out.returncode == 2 and out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1 and field in out.stderr
