"""The home's energy balance closes, per strategy and scenario, from the result tables (not from the summary):

grid import + PV = load + export + main units + conversion losses + standby + curtailed PV + change in stored energy.

And the summary's energy fields are what their definitions say (served by storage never above the load, nor above
the storage's AC output; the storage-corrected net import is net import minus the change in stored energy).
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socbal.home.engine import simulate_home
from socbal.home.scenario import home_scenario_from_dict
from tests.home.test_home_sim import run

STRATEGIES = ("socbal", "equal", "sequential", "power-limit-soc")


def balance_terms_kwh(result) -> dict[str, float]:
    """Each term of the balance, kWh, summed over the result's tables."""
    home = result.home.sum(numeric_only=True)
    flows = result.device_flows.sum(numeric_only=True)
    packs = result.packs
    last = packs.groupby(["device_id", "pack_id"], observed=True, sort=False)["soc_true_pct"].last()
    stored_change_wh = sum(
        (last.loc[(d.id, p.id)] - p.soc_pct) / 100.0 * p.usable_capacity_wh for d in result.scenario.devices for p in d.all_packs
    )
    return {
        "import": home["grid_import_wh"] / 1000.0,
        "pv": flows["pv_wh"] / 1000.0,
        "load": home["load_wh"] / 1000.0,
        "export": home["export_wh"] / 1000.0,
        "losses": (packs["dcdc_loss_wh"].sum() + packs["i2r_loss_wh"].sum() + packs["standby_wh"].sum() + flows["main_unit_wh"])
        / 1000.0,  # a device's losses, the main unit's draw included, as every command counts them
        "curtailed": flows["pv_curtailed_wh"] / 1000.0,
        "stored_change": stored_change_wh / 1000.0,
    }


def residual_kwh(t: dict[str, float]) -> float:
    sinks = t["load"] + t["export"] + t["losses"] + t["curtailed"] + t["stored_change"]
    return t["import"] + t["pv"] - sinks


def check_summary(result) -> None:
    """The summary's fields against the tables and their definitions."""
    h = result.summary["home"]
    t = balance_terms_kwh(result)
    scale = 1e-9 * max(1.0, t["load"] + t["pv"] + t["import"])
    assert abs(residual_kwh(t)) <= 1e-6 * max(1.0, t["load"] + t["pv"] + t["import"])
    assert h["stored_change_kwh"] == pytest.approx(t["stored_change"], abs=scale)
    assert h["pv_kwh"] == pytest.approx(t["pv"], abs=scale)
    assert h["net_import_kwh"] == pytest.approx(t["import"] - t["export"], abs=scale)
    assert h["net_import_storage_corrected_kwh"] == pytest.approx(t["import"] - t["export"] - t["stored_change"], abs=scale)
    assert h["losses_kwh"] == pytest.approx(t["losses"], abs=scale)
    # the load's share of the storage's AC output: never above the load, nor above what the storage delivered at AC,
    # and that never above the devices' AC output; per recorded interval too
    assert (result.home["served_by_storage_wh"] <= result.home["load_wh"] + 1e-9).all()
    assert (result.home["served_by_storage_wh"] <= result.home["storage_ac_wh"] + 1e-9).all()
    assert h["storage_ac_kwh"] <= h["ac_delivered_kwh"] + 1e-9
    # the house: import - export + the devices' AC out - what they draw from AC = load
    assert t["import"] - t["export"] + h["ac_delivered_kwh"] - h["ac_drawn_kwh"] == pytest.approx(t["load"], abs=1e-6)


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("name", ["home_charging", "home_weakest_pack", "home_dawn"])
def test_the_balance_closes_for_every_strategy(name, strategy):
    check_summary(run(name, home={"strategy": strategy}))


def test_served_by_storage_leaves_out_the_main_units_own_draw():
    """A load the devices cover whole: the storage serves the load, not the load plus the main units' draw."""
    r = run("home_two_units")
    h = r.summary["home"]
    assert h["main_unit_kwh"] > 0.0 and h["avoidable_import_kwh"] < 0.01 * h["load_kwh"]
    assert h["served_by_storage_kwh"] <= h["load_kwh"]
    assert h["served_by_storage_kwh"] == pytest.approx(h["load_kwh"] - h["grid_import_kwh"], abs=1e-6)
    # the batteries gave more at the bus than the load took: the main units' draw and the losses
    assert h["battery_discharge_kwh"] > h["served_by_storage_kwh"]


def device(did: str, soc: float, n_packs: int, pv_w: float, firmware: str, ac_charge_w: float) -> dict:
    packs = [dict(id=f"p{i}", soc_pct=max(soc - 7 * i, 1.0), capacity_wh=1000 + 300 * i) for i in range(1, n_packs + 1)]
    out = dict(
        id=did,
        firmware=firmware,
        actuator_latency_s=2,
        min_write_interval_s=2,
        device=dict(ac_output_limit_w=1200, ac_charge_limit_w=ac_charge_w),
        main=dict(id="main", soc_pct=soc, capacity_wh=1500),
        packs=packs,
    )
    if pv_w:
        out["pv"] = dict(kind="constant", power_w=pv_w)
    return out


@st.composite
def homes(draw) -> dict:
    n_dev = draw(st.integers(1, 3))
    devices = [
        device(
            f"d{i}",
            draw(st.floats(5.0, 95.0)),
            draw(st.integers(0, 2)),
            draw(st.sampled_from([0.0, 0.0, 150.0, 900.0])),
            draw(st.sampled_from(["spec", "stop-at-first-empty", "reserve-on-average"])),
            draw(st.sampled_from([0.0, 800.0])),
        )
        for i in range(n_dev)
    ]
    return dict(
        run=dict(step_s=draw(st.sampled_from([1, 2, 5])), horizon_h=draw(st.integers(3, 30)) / 60.0, record_every_s=300),
        home=dict(name="h", strategy=draw(st.sampled_from(STRATEGIES)), staging=draw(st.sampled_from(["auto", "always-share"]))),
        meter=dict(period_s=5, latency_s=1),
        load=dict(kind="stochastic", annual_kwh=draw(st.floats(1000.0, 20000.0)), step_s=60, seed=draw(st.integers(0, 99))),
        devices=devices,
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(homes())
def test_the_balance_closes_on_any_home(raw):
    result = simulate_home(home_scenario_from_dict(raw))
    check_summary(result)
    assert np.isfinite(result.summary["home"]["stored_change_kwh"])


def test_a_load_finer_than_the_step_keeps_its_energy():
    # A 1-minute load at 10-minute steps is averaged over each step, as in the one-device run; read at each
    # step's first minute it gave another energy.
    def load_kwh(step_s: int) -> float:
        raw = dict(
            run=dict(step_s=step_s, horizon_h=6.0, record_every_s=3600),
            home=dict(name="h", strategy="socbal"),
            meter=dict(period_s=step_s, latency_s=0, stale_after_s=2 * step_s),
            load=dict(kind="stochastic", annual_kwh=6000.0, step_s=60, seed=3),
            devices=[device("d0", 60.0, 1, 0.0, "spec", 0.0)],
        )
        return simulate_home(home_scenario_from_dict(raw)).summary["home"]["load_kwh"]

    assert load_kwh(600) == pytest.approx(load_kwh(60), rel=1e-9)
