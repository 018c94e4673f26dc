"""socbal compare: the three topologies on the same packs and demand, known answers, files, CLI and bad input."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from socbal.compare import COMPARE_FILES, TOPOLOGIES, battery_demand_w, compare_scenario, electrical_packs
from socbal.compare.runs import TopologyRun, dcdc_scenario, first_stop_s, run_topologies
from socbal.errors import InputError
from socbal.scenario import load_scenario, scenario_from_dict
from socbal.sim.engine import simulate
from socbal.topology import simulate_parallel

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "compare_mixed.toml"


def socbal(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "socbal", *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def scenario(packs: list[dict], load_w: float = 500.0, pv_w: float = 0.0, horizon_h: float = 4.0, **extra):
    raw = {
        "name": "t",
        "run": {"step_s": 60, "horizon_h": horizon_h},
        "device": {"ac_output_limit_w": 800},
        "main": {"id": "main", **packs[0]},
        "packs": [{"id": f"p{i}", **p} for i, p in enumerate(packs[1:], 1)],
        "load": {"kind": "constant", "power_w": load_w},
        "pv": {"kind": "constant", "power_w": pv_w},
    }
    return scenario_from_dict({**raw, **extra})


@pytest.fixture(scope="module")
def mixed():
    return compare_scenario(load_scenario(EXAMPLE))


def metrics(result) -> pd.DataFrame:
    return result.metrics.set_index("topology")


def test_equal_packs_at_equal_soc_never_circulate_or_spread():
    # With the aux module the main unit draws from the grid, not from its own battery (spec 7.3).
    # Every pack draws the same 2 W standby (the main battery too), so nothing but the topology can part them.
    packs = [{"soc_pct": 60.0, "standby_w": 2.0}] * 3
    result = compare_scenario(scenario(packs, device={"ac_output_limit_w": 800, "aux_power_module": True}))
    m = metrics(result)
    assert m.loc["parallel", "peak_circulating_current_a"] == pytest.approx(0.0, abs=1e-9)
    assert m.loc["parallel", "circulating_charge_ah"] == pytest.approx(0.0, abs=1e-9)
    spread = result.spread.groupby("topology", observed=True)["spread_pct"].max()
    assert spread["parallel"] == pytest.approx(0.0, abs=1e-9)
    assert spread["series"] == pytest.approx(0.0, abs=1e-9)
    assert spread["dcdc"] < 0.1
    for t in TOPOLOGIES:  # 2 kWh asked of 3 x 1.15 kWh above the reserve: all serve it
        assert m.loc[t, "delivered_wh"] == pytest.approx(2000.0, rel=1e-6)
        assert math.isnan(m.loc[t, "time_to_first_stop_h"])


def test_mixed_packs_series_delivers_less_and_stops_first(mixed):
    m = metrics(mixed)
    assert m.loc["series", "delivered_wh"] < m.loc["dcdc", "delivered_wh"]
    assert m.loc["series", "time_to_first_stop_h"] < m.loc["dcdc", "time_to_first_stop_h"]
    assert m.loc["series", "first_pack_stop"] == "old-70: at the backup reserve"
    # The string's weakest pack stops it at the 10 % reserve: the strongest still holds most of its charge.
    series_packs = mixed.packs[mixed.packs["topology"] == "series"].set_index("pack_id")
    assert series_packs.loc["old-70", "min_soc_pct"] == pytest.approx(10.0, abs=1e-9)
    assert series_packs.loc["main", "min_soc_pct"] > 50.0


def test_the_first_stop_is_dated_by_its_cause_not_by_the_start_of_its_step(mixed):
    # The time until the first stop was the start of the first step short of the demand: the parallel bank's
    # read 20.73 h, before the main pack filled (20.74 h) and its charge was blocked; the string's 5.35 h before
    # old-70 reached the reserve (5.3512 h).
    m = metrics(mixed)
    step_h = mixed.scenario.run.step_s / 3600.0
    for t in ("parallel", "series"):
        assert m.loc[t, "time_to_first_stop_h"] == m.loc[t, "first_pack_stop_h"], t
        assert m.loc[t, "first_pack_stop_h"] % step_h > 1e-6, t  # within a step, not at its start
    # The DC-DC EMS sets power at each step's start: old-70 stops there, and the shortfall begins with it.
    assert m.loc["dcdc", "time_to_first_stop_h"] == m.loc["dcdc", "first_pack_stop_h"] == pytest.approx(11.6)


def test_a_shortfall_without_a_pack_stop_in_its_step_is_dated_at_the_steps_end_or_its_start_where_power_is_set():
    arrays = (np.zeros(1),) * 9
    run = TopologyRun("series", *arrays, first_pack_stop_s=math.nan, first_pack_stop="", power_set_per_step=False)
    assert first_stop_s(run, 3, 60.0) == 240.0  # the record of step 3 (180-240 s) shows it; its start is too early
    assert first_stop_s(replace(run, first_pack_stop_s=200.0), 3, 60.0) == 200.0
    assert first_stop_s(replace(run, first_pack_stop_s=240.0), 3, 60.0) == 240.0  # the next step's stop: the end
    assert first_stop_s(replace(run, power_set_per_step=True), 3, 60.0) == 180.0


def test_unserved_demand_that_is_float_rounding_is_stored_as_0(mixed):
    # the parallel bank served all its discharge demand: 5.6e-14 Wh "not served" was left of demand - served before
    m = metrics(mixed)
    assert m.loc["parallel", "unserved_discharge_wh"] == 0.0
    assert m.loc["series", "unserved_discharge_wh"] > 1.0  # the string stops early: real shortfall is kept


def test_served_and_not_served_add_up_to_the_demand_and_absorbed_is_what_the_packs_took(mixed):
    # The DC-DC column counted the main unit's bus draw against the packs even when PV fed it while the packs were at
    # their reserve (an evening): 12.5 Wh showed as "absorbed (charging)" in discharge steps and on top of the
    # discharge not served, so served + not served exceeded what was asked.
    m = metrics(mixed)
    for t in TOPOLOGIES:
        row = m.loc[t]
        assert row["delivered_wh"] + row["unserved_discharge_wh"] == pytest.approx(row["requested_discharge_wh"], rel=1e-9), t
        taken_wh = row["absorbed_wh"] + row["main_unit_surplus_wh"]
        assert taken_wh + row["unserved_charge_wh"] == pytest.approx(row["requested_charge_wh"], rel=1e-9), t
    demand_w = battery_demand_w(load_scenario(EXAMPLE))
    served_w = run_topologies(load_scenario(EXAMPLE))[1]["dcdc"].served_w
    assert (served_w[demand_w > 0] >= 0.0).all()  # nothing absorbed while the demand was a discharge


def test_the_main_units_pv_fed_draw_counts_once_not_as_absorbed_and_as_standby(mixed):
    # While charging, the main unit's draw fed by the PV surplus counted as "absorbed (charging)" and as "standby":
    # absorbed read 5076 Wh where the packs took 4963 Wh, and standby 318 Wh of which the cells fed 206 Wh (the other
    # 112 Wh were PV, counted twice).
    dcdc = simulate(dcdc_scenario(load_scenario(EXAMPLE)))
    e = dcdc.summary["energy_kwh"]
    m = metrics(mixed)
    assert m.loc["dcdc", "absorbed_wh"] == pytest.approx(1000.0 * e["battery_charge"], rel=1e-9)
    from_cells_wh = 1000.0 * (e["standby"] + e["main_from_battery"])
    main_bus_wh = 1000.0 * e["main_from_bus"]
    fed_by_packs_at_most_wh = main_bus_wh - m.loc["dcdc", "main_unit_surplus_wh"]
    assert from_cells_wh <= m.loc["dcdc", "standby_wh"] <= from_cells_wh + fed_by_packs_at_most_wh + 1e-6
    assert 0.0 < m.loc["dcdc", "main_unit_surplus_wh"] < main_bus_wh  # PV fed it by day, the packs by night
    for t in ("parallel", "series"):
        assert m.loc[t, "main_unit_surplus_wh"] == 0.0  # no main unit modelled


def test_mixed_packs_in_parallel_circulate_and_heat(mixed):
    m = metrics(mixed)
    assert m.loc["parallel", "peak_circulating_current_a"] > 1.0
    assert m.loc["parallel", "pack_heat_wh"] > 0.0
    assert m.loc["parallel", "peak_pack_heat_w"] > m.loc["dcdc", "peak_pack_heat_w"]
    assert m.loc["series", "peak_circulating_current_a"] == 0.0
    assert m.loc["dcdc", "peak_circulating_current_a"] == pytest.approx(0.0, abs=1e-9)  # no churn: all one direction


def test_same_demand_in_every_column_and_losses_kept_apart(mixed):
    m = metrics(mixed)
    for column in ("requested_discharge_wh", "requested_charge_wh", "initial_spread_pct"):
        assert m[column].nunique() == 1
    # The same SOCs: the DC-DC model holds capacity x SOC; the direct ones the OCV integral, less at low LFP SOC.
    spec = load_scenario(EXAMPLE)
    linear_wh = sum(p.usable_capacity_wh * p.soc_pct / 100 for p in spec.all_packs)
    assert m.loc["dcdc", "stored_start_wh"] == pytest.approx(linear_wh)
    assert m.loc["parallel", "stored_start_wh"] == m.loc["series", "stored_start_wh"] < linear_wh - 30
    for t in ("parallel", "series"):
        assert m.loc[t, "conversion_loss_wh"] == 0.0 and m.loc[t, "standby_wh"] == 0.0
    assert m.loc["dcdc", "conversion_loss_wh"] > 0.0 and m.loc["dcdc", "standby_wh"] > 0.0
    # DC-DC energy balance: what the cells lost is what the bus got plus every loss (standby is apart from the total).
    d = m.loc["dcdc"]
    assert d["total_loss_wh"] == pytest.approx(d["pack_heat_wh"] + d["conversion_loss_wh"])
    assert d["stored_start_wh"] - d["stored_end_wh"] == pytest.approx(
        d["delivered_wh"] - d["absorbed_wh"] + d["total_loss_wh"] + d["standby_wh"], abs=0.5
    )
    # The parallel column's heat is the topology simulation's own I^2 R total.
    direct = simulate_parallel(
        electrical_packs(spec),
        power_w=battery_demand_w(spec),
        step_s=spec.run.step_s,
        floor_soc_pct=spec.settings.backup_reserve_pct,
    )
    assert m.loc["parallel", "pack_heat_wh"] == pytest.approx(direct.loss_wh, rel=1e-9)
    assert m.loc["parallel", "peak_circulating_current_a"] == pytest.approx(direct.peak_circulating_current_a)


def test_no_column_discharges_a_pack_below_the_backup_reserve():
    # 3 h at 700 W from packs at 60/40/25 % (about 1.7 kWh above a 20 % reserve): every column reaches the reserve.
    spec = scenario(
        [{"soc_pct": 60.0}, {"soc_pct": 40.0, "soh_pct": 80}, {"soc_pct": 25.0, "soh_pct": 70}],
        load_w=700.0,
        horizon_h=3.0,
        settings={"backup_reserve_pct": 20},
    )
    demand_w, runs = run_topologies(spec)
    for t, run in runs.items():
        start_soc = run.soc_pct[:-1]
        # No pack gives current to the bus in a step it starts at or below the reserve.
        assert not np.any((start_soc <= 20.0) & (run.pack_current_a > 1e-9)), t
    for t in ("parallel", "series"):  # no standby draw modelled: the floor holds exactly
        assert runs[t].soc_pct.min() == pytest.approx(20.0, abs=1e-9), t
    # DC-DC: the EMS stops at the reserve; only the standby draw takes a parked pack below it.
    assert runs["dcdc"].soc_pct.min() < 20.0
    result = compare_scenario(spec)
    assert "All three stop discharging at the backup reserve, 20 %" in " ".join(result.summary["notes"])
    m = metrics(result)
    for t in TOPOLOGIES:
        assert m.loc[t, "unserved_discharge_wh"] > 0.0, t
        assert "at the backup reserve" in m.loc[t, "first_pack_stop"], t


def test_demand_is_load_minus_pv_within_the_device_limits():
    demand = battery_demand_w(scenario([{"soc_pct": 50.0}], load_w=1000.0, pv_w=300.0, horizon_h=1.0))
    np.testing.assert_allclose(demand, 800.0 - 300.0)  # load capped at the 800 W AC output limit
    demand = battery_demand_w(scenario([{"soc_pct": 50.0}], load_w=200.0, pv_w=900.0, horizon_h=1.0))
    np.testing.assert_allclose(demand, 200.0 - 900.0)  # PV surplus charges


def test_zero_resistance_is_named():
    spec = scenario([{"soc_pct": 50.0}, {"soc_pct": 40.0, "internal_resistance_ohm": 0.0}])
    with pytest.raises(InputError, match=r"^packs\[0\]\.internal_resistance_ohm: value 0\.0 is not allowed"):
        compare_scenario(spec)


def test_cli_on_the_example_prints_the_table_and_writes_results(tmp_path):
    out = tmp_path / "cmp"
    run = socbal("compare", str(EXAMPLE), "--out", str(out), "--report")
    assert run.returncode == 0, run.stderr
    for label in (
        "Parallel bank",
        "Series string",
        "DC-DC + socbal EMS",
        "Peak circulating current",
        "Time until the first stop",
    ):
        assert label in run.stdout
    assert sorted(p.name for p in out.iterdir() if p.is_file()) == sorted([*COMPARE_FILES, "report.html"])
    assert not list(out.glob(".*.tmp"))
    table = pd.read_parquet(out / "metrics.parquet")
    assert list(table["topology"]) == list(TOPOLOGIES)
    assert {"delivered_wh", "pack_heat_wh", "peak_circulating_current_a", "time_to_first_stop_h"} <= set(table)
    spread = pd.read_parquet(out / "spread.parquet")
    assert list(spread.columns) == ["time_s", "topology", "spread_pct"]
    assert len(spread) == 3 * (24 * 60 + 1)
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["topologies"]) == set(TOPOLOGIES)
    assert (out / "figures" / "spread.png").stat().st_size > 0


def test_cli_bad_input_names_the_field_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(EXAMPLE.read_text().replace('chemistry = "lfp"', 'chemistry = "lead-acid"'))
    out = tmp_path / "never"
    run = socbal("compare", str(bad), "--out", str(out))
    assert run.returncode == 2
    assert run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "compare.chemistry" in lines[0] and "Traceback" not in run.stderr
    assert not out.exists()


@st.composite
def compare_scenarios(draw):
    """Small random comparisons: 1-3 packs of either chemistry at any SOC (0 and 100 included), load and PV."""
    soc = st.one_of(st.sampled_from([0.0, 100.0]), st.floats(0.0, 100.0))
    packs = [
        {
            "soc_pct": draw(soc),
            "soh_pct": draw(st.floats(60.0, 100.0)),
            "internal_resistance_ohm": draw(st.floats(0.01, 0.2)),
        }
        for _ in range(draw(st.integers(1, 3)))
    ]
    return scenario(
        packs,
        load_w=draw(st.floats(0.0, 800.0)),
        pv_w=draw(st.sampled_from([0.0, 300.0, 1500.0])),
        horizon_h=draw(st.sampled_from([1.0, 2.0, 3.0])),
        settings={"backup_reserve_pct": draw(st.sampled_from([5, 10, 30, 60]))},
        compare={"chemistry": draw(st.sampled_from(["lfp", "nmc"]))},
    )


@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=compare_scenarios())
def test_energy_balance_closes_in_every_column(spec):
    # Stored at the start - at the end = delivered - absorbed + heat + conversion + standby, up to the residual shown:
    # rounding for DC-DC; for series and parallel the explicit Euler step (OCV held over a sub-step), a small share
    # of the energy the packs' cells moved.
    result = compare_scenario(spec)
    m = metrics(result)
    for t in TOPOLOGIES:
        row = m.loc[t]
        open_wh = row["stored_start_wh"] - row["stored_end_wh"]
        open_wh -= row["delivered_wh"] - row["absorbed_wh"] + row["total_loss_wh"] + row["standby_wh"]
        assert row["balance_residual_wh"] == pytest.approx(open_wh, abs=1e-6), t
    assert abs(m.loc["dcdc", "balance_residual_wh"]) < 1e-6
    _, runs = run_topologies(spec)
    nominal_v = np.array([p.nominal_voltage_v for p in electrical_packs(spec)])
    for t in ("parallel", "series"):
        moved_wh = float(np.sum(np.abs(runs[t].pack_current_a) * nominal_v) * spec.run.step_s / 3600)
        assert abs(m.loc[t, "balance_residual_wh"]) <= 0.01 * moved_wh + 1e-6, t


def test_balance_residual_of_the_direct_columns_shrinks_with_the_step(mixed):
    example = load_scenario(EXAMPLE)

    def first_hours(step_s: float):  # the tie-in and the evening, where the parallel packs circulate most
        run = example.run.model_copy(update={"step_s": step_s, "horizon_h": 4})
        return metrics(compare_scenario(example.model_copy(update={"run": run})))

    coarse_m, fine_m = first_hours(60), first_hours(10)
    for t in ("parallel", "series"):
        assert abs(fine_m.loc[t, "balance_residual_wh"]) < abs(coarse_m.loc[t, "balance_residual_wh"]) / 3, t
    coarse_m = metrics(mixed)
    # Before the OCV-integrated stored energy the example's direct columns were 64 and 32 Wh open.
    assert abs(coarse_m.loc["parallel", "balance_residual_wh"]) < 5 and abs(coarse_m.loc["series", "balance_residual_wh"]) < 1
    assert "Energy balance residual" in " ".join(mixed.summary["notes"])


def test_results_of_an_older_compare_are_refused_in_one_line(mixed, tmp_path):
    folder = mixed.save(tmp_path / "old")
    metrics_file = Path(folder) / "metrics.parquet"
    pd.read_parquet(metrics_file).drop(columns=["balance_residual_wh"]).to_parquet(metrics_file)
    run = socbal("report", str(folder), "--no-png")
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "'balance_residual_wh' is missing: written by an older socbal compare" in lines[0]
    assert not (Path(folder) / "report.html").exists()
