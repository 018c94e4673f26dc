"""The one-device summary: balance residuals that are float rounding are stored as 0, real small values are kept."""

from pathlib import Path

import pytest

from socbal.scenario import load_scenario
from socbal.sim.engine import simulate
from socbal.sim.metrics import RESIDUAL_ENERGIES, ROUNDING_REL, without_rounding

EXAMPLES = Path(__file__).parents[2] / "examples"


def test_the_spec_example_curtails_no_pv_and_says_exactly_0():
    # 900 W from the packs, no PV: the bus residual left 2.3e-17 kWh of "curtailed PV" before
    energy = simulate(load_scenario(EXAMPLES / "spec_example.toml")).summary["energy_kwh"]
    assert energy["pv"] == 0.0
    for name in RESIDUAL_ENERGIES:
        assert energy[name] == 0.0 or abs(energy[name]) > ROUNDING_REL * energy["load"], name


def test_rounding_is_dropped_only_from_residuals_and_only_within_the_tolerance():
    values = {"pv_curtailed": 2.3e-17, "grid_import": 1e-6, "export": -3e-15, "i2r_loss": 1e-16, "load": 10.0}
    out = without_rounding(values, ("pv_curtailed", "grid_import", "export"), scale=10.0)
    assert out["pv_curtailed"] == 0.0 and out["export"] == 0.0
    assert out["grid_import"] == 1e-6  # 1 Wh in 10 kWh is energy, not rounding
    assert out["i2r_loss"] == 1e-16 and out["load"] == 10.0  # products are never rounded away
    assert without_rounding({"export": 1.01e-8}, ("export",), scale=10.0)["export"] == pytest.approx(1.01e-8)
