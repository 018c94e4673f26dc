"""Self-sufficiency counts every kWh the home took from the grid, the device's AC charging included."""

import pytest

import socbal
from socbal.report.data import RunData
from socbal.report.headline import headline
from socbal.sweep.metrics import case_metrics

# The main unit at 90 %, an empty pack, a 50 % reserve: AC backup charging fills the empty pack from the grid
# while the main unit discharges into the house, so what the device "serves" came from the grid.
GRID_CHARGED = {
    "run": {"step_s": 60, "horizon_h": 24},
    "settings": {"backup_reserve_pct": 50, "ems_version": "1.01.05"},
    "main": {"id": "main", "soc_pct": 90},
    "packs": [{"id": "p1", "soc_pct": 0}],
    "load": {"kind": "constant", "power_w": 300},
}


def test_grid_energy_through_the_battery_is_not_self_sufficiency():
    result = socbal.simulate(GRID_CHARGED)
    e = result.summary["energy_kwh"]
    from_grid_kwh = e["grid_import"] + e["grid_to_device"] + e["unserved"]
    assert from_grid_kwh > e["load"]  # the home took more from the grid than it used: nothing was self-sufficient
    run = RunData(label="x", packs=result.packs, device=result.device, summary=result.summary)
    assert headline(run)["self_sufficiency_pct"] == 0.0  # was 9.9 %: the grid's AC charging was left out
    assert case_metrics(result)["self_sufficiency_pct"] == 0.0


def test_self_sufficiency_is_the_load_share_not_from_the_grid():
    result = socbal.simulate({**GRID_CHARGED, "settings": {"backup_reserve_pct": 10}})
    e = result.summary["energy_kwh"]
    expected = 100.0 * (1.0 - (e["grid_import"] + e["grid_to_device"] + e["unserved"]) / e["load"])
    assert 0.0 < expected < 100.0
    run = RunData(label="x", packs=result.packs, device=result.device, summary=result.summary)
    assert headline(run)["self_sufficiency_pct"] == pytest.approx(expected)
    assert case_metrics(result)["self_sufficiency_pct"] == pytest.approx(expected)
