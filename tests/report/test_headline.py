"""The report's headline numbers say what the records say: every loss counted, no round trip without a trip."""

import math
from pathlib import Path

import pytest

import socbal
from socbal.report.data import RunData
from socbal.report.headline import headline, headline_html, losses_kwh

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _run(scenario: dict) -> RunData:
    result = socbal.simulate(scenario)
    return RunData(label="x", packs=result.packs, device=result.device, summary=result.summary)


def _standby(aux: bool) -> dict:
    return {
        "run": {"step_s": 300, "horizon_h": 24},
        "device": {"aux_power_module": aux},
        "main": {"id": "main", "soc_pct": 50},
        "packs": [{"id": "p1", "soc_pct": 50}],
        "load": {"kind": "constant", "power_w": 0},
    }


def test_the_main_unit_fed_from_the_grid_is_a_loss_too():
    run = _run(_standby(aux=True))
    e = run.summary["energy_kwh"]
    assert e["main_unit"] == pytest.approx(0.144)  # 6 W x 24 h, from the grid over the aux module
    split = losses_kwh(run)
    main_parts = [v for k, v in split.items() if k.startswith("main unit")]
    assert sum(main_parts) == pytest.approx(e["main_unit"])  # was 0: neither from the bus nor from its battery
    assert headline(run)["losses_kwh"] == pytest.approx(e["conversion_loss"] + e["standby"] + e["main_unit"])


def test_no_round_trip_without_a_trip():
    run = _run(_standby(aux=False))
    e = run.summary["energy_kwh"]
    assert e["battery_discharge"] == 0.0 and e["battery_charge"] == 0.0
    assert math.isnan(headline(run)["round_trip_pct"])  # was 0.0 %: standby alone read as a failed round trip


def _load_only(power_w: float) -> dict:
    return {
        "run": {"step_s": 300, "horizon_h": 12},
        "main": {"id": "main", "soc_pct": 80},
        "packs": [{"id": "p1", "soc_pct": 80}],
        "load": {"kind": "constant", "power_w": power_w},
    }


def test_a_run_that_only_discharges_names_its_figure_the_discharge_efficiency():
    run = _run(_load_only(300.0))
    e = run.summary["energy_kwh"]
    assert e["battery_charge"] == 0.0 < e["battery_discharge"]
    html = headline_html(run)
    assert "battery discharge efficiency" in html and "round trip" not in html  # was "battery round trip"
    assert 80.0 < headline(run)["round_trip_pct"] < 100.0  # bus side out over the stored energy used


def test_a_run_with_energy_in_and_out_is_a_round_trip_and_one_only_charging_the_charge_efficiency():
    week = _run(socbal.load_scenario(EXAMPLES / "german_household.toml"))  # PV by day, load by night
    e = week.summary["energy_kwh"]
    assert e["battery_charge"] > 0.0 and e["battery_discharge"] > 0.0
    assert "battery round trip" in headline_html(week)
    charging = _run(socbal.load_scenario(EXAMPLES / "ac_charging_new.toml"))
    assert charging.summary["energy_kwh"]["battery_discharge"] == 0.0
    assert "battery charge efficiency" in headline_html(charging)


def test_cycles_per_pack_is_one_number_when_the_packs_cycled_alike():
    # one pack (or packs that cycled alike at the digit shown) read "0.2–0.2", a range of one value
    one = _run(
        {
            "run": {"step_s": 300, "horizon_h": 2},
            "main": {"id": "main", "soc_pct": 80},
            "load": {"kind": "constant", "power_w": 400},
        }
    )
    efc = one.summary["packs"][0]["throughput_efc"]
    html = headline_html(one)
    box = html[html.index("cycles per pack") : html.index("throughput EFC")]
    assert f"<b>{efc:.1f}</b>" in box and "–" not in box
    spread = headline_html(_run(socbal.load_scenario(EXAMPLES / "spec_example.toml")))  # 0.14 and 0.34 cycles
    assert "<b>0.1–0.3</b>" in spread
