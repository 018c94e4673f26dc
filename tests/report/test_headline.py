"""The report's headline numbers say what the records say: every loss counted, no round trip without a trip."""

import math

import pytest

import socbal
from socbal.report.data import RunData
from socbal.report.headline import headline, losses_kwh


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
