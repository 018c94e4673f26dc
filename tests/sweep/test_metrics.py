"""A sizing case's figures: its losses are the run summary's, and with them the device's books close."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from socbal.scenario import scenario_from_dict
from socbal.sim.engine import simulate
from socbal.sim.metrics import RESIDUAL_ENERGIES, ROUNDING_REL, losses_kwh
from socbal.sweep.metrics import HOURS_PER_YEAR, case_metrics
from tests.sim.test_metrics import device_books_residual_kwh


@hsettings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    socs=st.lists(st.floats(0, 100), min_size=1, max_size=3),
    reserve_pct=st.sampled_from([5, 10, 30, 60]),
    aux=st.booleans(),
    load_w=st.floats(0, 1200),
    pv_w=st.floats(0, 2500),
)
def test_the_case_losses_are_the_summarys_and_close_the_books(socs, reserve_pct, aux, load_w, pv_w):
    # The sweep recomputed the losses from their parts next to the summary's own "losses"; both must be the one
    # figure that closes the device's books (PV used + grid to device = AC output + losses + stored change).
    raw = {
        "name": "books",
        "run": {"step_s": 120, "horizon_h": 12},
        "settings": {"backup_reserve_pct": reserve_pct, "ems_version": "1.01.05"},
        "device": {"aux_power_module": aux},
        "main": {"id": "main", "soc_pct": socs[0]},
        "packs": [{"id": f"p{i}", "soc_pct": soc} for i, soc in enumerate(socs[1:], 1)],
        "load": {"kind": "constant", "power_w": load_w},
        "pv": {"kind": "constant", "power_w": pv_w},
    }
    result = simulate(scenario_from_dict(raw))
    e = result.summary["energy_kwh"]
    per_year = HOURS_PER_YEAR / result.summary["horizon_h"]
    losses = case_metrics(result)["losses_kwh_yr"] / per_year
    assert losses == pytest.approx(e["losses"], rel=1e-12)
    assert e["losses"] == losses_kwh(e) and e["losses"] > 0  # the packs' standby and the main unit always draw
    # residuals within ROUNDING_REL of the largest total are stored as 0 (1 µW of PV curtailed for 12 h, say)
    rounding_kwh = len(RESIDUAL_ENERGIES) * ROUNDING_REL * max(abs(v) for v in e.values())
    assert device_books_residual_kwh(e, result.summary["packs"], losses) == pytest.approx(0.0, abs=1e-9 + rounding_kwh)
