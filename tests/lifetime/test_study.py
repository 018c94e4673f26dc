"""``socbal lifetime``: one run per strategy, cycles and fade per pack, and clear errors for bad input."""

from __future__ import annotations

import importlib.util
import io
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console
from typer.testing import CliRunner

from socbal.cli import app
from socbal.console import print_study
from socbal.errors import InputError
from socbal.lifetime import study as study_module
from socbal.lifetime.study import STRATEGIES, run_study, years_to_capacity
from socbal.scenario import load_scenario, scenario_from_dict

HAS_BLAST = importlib.util.find_spec("blast") is not None
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

#: Two equal packs, a week of household load and PV at 300 s (recorded every 900 s by the study).
WEEK = {
    "name": "week",
    "run": {"step_s": 300, "horizon_h": 7 * 24},
    "settings": {"backup_reserve_pct": 10},
    "device": {"ac_output_limit_w": 800, "pv_input_limit_w": 2000},
    "main": {"id": "main", "soc_pct": 50},
    "packs": [{"id": "p1", "soc_pct": 50}],
    "load": {"kind": "synthetic-household", "daily_kwh": 4},
    "pv": {"kind": "synthetic-clear-sky", "peak_w": 800},
    "lifetime": {"chemistry": "lfp", "temperature_c": 25},
}


@pytest.fixture(scope="module")
def week():
    return scenario_from_dict(WEEK)


@pytest.fixture(scope="module")
def cycles_only(week):
    return run_study(week, years=1, strategies=STRATEGIES, fade=False)


def test_every_strategy_runs_and_gives_tidy_tables(cycles_only):
    s = cycles_only
    assert list(s.strategies.strategy) == list(STRATEGIES)
    assert len(s.packs) == len(STRATEGIES) * 2 and set(s.packs.pack_id) == {"main", "p1"}
    assert s.runs["spec"].scenario.run.record_every_s == 900  # the study's default recording interval
    assert (s.packs.soc_swing_efc_per_year > 0).all()
    # rainflow histogram: a week of daily PV cycles, scaled to a year, in 10 % bins
    assert set(s.dod.columns) == {"strategy", "pack_id", "dod_from_pct", "dod_to_pct", "cycles_per_year"}
    assert (s.dod.groupby(["strategy", "pack_id"]).cycles_per_year.sum() > 52).all()
    assert s.packs.time_high_h_per_year.ge(0).all() and s.packs.time_low_h_per_year.ge(0).all()
    assert (s.strategies.energy_served_kwh_per_year > 0).all() and (s.strategies.losses_kwh_per_year > 0).all()
    assert s.packs.capacity_after_pct.isna().all() and not s.fade_available


def test_the_losses_are_the_devices_and_each_packs_close_its_books(cycles_only):
    # losses_kwh_per_year left out the main unit's draw that `socbal sweep` and the report count (spec here: 133 kWh
    # a year, 221 with it), and a pack's loss_kwh_per_year the main unit's draw from the main battery.
    s = cycles_only
    per_year = study_module.DAYS_PER_YEAR * 24.0 / s.runs["spec"].summary["horizon_h"]
    table = s.strategies.set_index("strategy")
    for strategy, run in s.runs.items():
        e = run.summary["energy_kwh"]
        assert e["main_unit"] > 0
        expected = (e["conversion_loss"] + e["standby"] + e["main_unit"]) * per_year
        assert table.at[strategy, "losses_kwh_per_year"] == pytest.approx(expected, rel=1e-12), strategy
        packs = s.packs[s.packs.strategy == strategy].set_index("pack_id")
        for p in run.summary["packs"]:
            stored_kwh = p["usable_capacity_kwh"] * (p["final_soc_pct"] - p["initial_soc_pct"]) / 100.0
            books = packs.loc[p["id"], ["charge_kwh_per_year", "discharge_kwh_per_year", "loss_kwh_per_year"]].to_numpy()
            assert books[0] - books[1] - books[2] == pytest.approx(stored_kwh * per_year, abs=1e-9), (strategy, p["id"])


def test_priority_cycles_the_first_pack_more_than_spec(cycles_only):
    efc = cycles_only.packs.set_index(["strategy", "pack_id"]).soc_swing_efc_per_year
    assert efc["priority", "main"] > 1.2 * efc["spec", "main"]
    assert efc["priority", "main"] > efc["priority", "p1"]
    assert abs(efc["spec", "main"] - efc["spec", "p1"]) < 0.15 * efc["spec", "main"]  # balanced: about equal cycling


@pytest.mark.skipif(not HAS_BLAST, reason="BLAST-Lite (socbal[lifetime]) is not installed")
def test_the_heavier_cycled_pack_fades_more(week):
    aged = week.model_copy(update={"packs": [week.packs[0].model_copy(update={"soh_pct": 90.0})]})
    s = run_study(aged, years=2, strategies=["priority"], max_years=3, workers=1)
    packs = s.packs.set_index("pack_id")
    assert packs.at["main", "soc_swing_efc_per_year"] > packs.at["p1", "soc_swing_efc_per_year"]
    loss = packs.soh_initial_pct - packs.capacity_after_pct
    assert loss["main"] > loss["p1"] > 0
    assert packs.at["main", "cycle_loss_pct"] > packs.at["p1", "cycle_loss_pct"]
    # the aged pack loses a share of what it has: capacity stays below its starting SOH, above 80 % here
    assert 80 < packs.at["p1", "capacity_after_pct"] < 90
    assert s.strategies.at[0, "worst_capacity_pct"] == pytest.approx(packs.capacity_after_pct.min())
    trajectory = s.fade[s.fade.pack_id == "p1"]
    assert trajectory.years.max() == pytest.approx(3.0) and trajectory.capacity_pct.iloc[0] == pytest.approx(90.0)
    assert np.all(np.diff(trajectory.capacity_pct.to_numpy()) <= 1e-9)


def test_years_to_capacity_interpolates_and_says_never():
    years = np.array([0.0, 1.0, 2.0, 3.0])
    assert years_to_capacity(years, np.array([100.0, 90.0, 78.0, 70.0])) == pytest.approx(1 + 10 / 12)
    assert years_to_capacity(years, np.array([79.0, 78.0, 77.0, 76.0])) == 0.0
    assert math.isnan(years_to_capacity(years, np.array([100.0, 95.0, 90.0, 85.0])))


def test_without_blast_cycles_and_energy_are_still_reported(week, tmp_path, monkeypatch):
    message = "capacity fade needs NREL's BLAST-Lite: pip install x"
    monkeypatch.setattr(study_module, "fade_unavailable_reason", lambda: message)
    result = CliRunner().invoke(
        app,
        [
            "lifetime",
            str(_write(week, tmp_path)),
            "--years",
            "5",
            "--strategies",
            "spec,priority",
            "-o",
            str(tmp_path / "out"),
            "--report",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "lifetime.html").is_file() and (tmp_path / "out" / "figures" / "cycling.png").is_file()
    assert f"capacity fade unavailable: {message}" in result.stdout
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["fade_available"] is False and summary["strategies"][0]["worst_capacity_pct"] is None
    assert summary["packs"][0]["soc_swing_efc_per_year"] > 0


def test_cli_writes_the_results_folder(week, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        ["lifetime", str(_write(week, tmp_path)), "--years", "1", "--max-years", "1", "-j", "1", "-o", str(out), "--save-runs"],
    )
    assert result.exit_code == 0, result.output
    for name in study_module.STUDY_FILES:
        assert (out / name).is_file(), name
    assert sorted(p.name for p in (out / "runs").iterdir()) == sorted(STRATEGIES)
    table = pd.read_parquet(out / "strategies.parquet")
    assert list(table.strategy) == list(STRATEGIES)
    for strategy in STRATEGIES:
        assert strategy in result.stdout
    if HAS_BLAST:
        assert pd.read_parquet(out / "packs.parquet").capacity_after_pct.between(90, 100).all()


def _toml_value(value) -> str:
    return json.dumps(value) if isinstance(value, str) else str(value)


def _write(scenario, folder: Path) -> Path:
    """The ``WEEK`` scenario as a TOML file (flat tables, one array of packs)."""
    lines = [f"name = {_toml_value(scenario.name)}"]
    for key, value in WEEK.items():
        if isinstance(value, dict):
            lines += [f"[{key}]"] + [f"{k} = {_toml_value(v)}" for k, v in value.items()]
        elif isinstance(value, list):
            for item in value:
                lines += [f"[[{key}]]"] + [f"{k} = {_toml_value(v)}" for k, v in item.items()]
    path = folder / "scenario.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    "args, message",
    [
        (["--years", "0"], "--years: value '0' is not allowed: must be > 0 and <= 50"),
        (["--years", "51"], "--years: value '51' is not allowed: must be > 0 and <= 50"),
        (["--years", "ten"], "--years: value 'ten' is not allowed: must be a number"),
        (["--strategies", "spec,fastest"], "strategies: value 'fastest' is not allowed"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(args, message):
    out = subprocess.run(
        [sys.executable, "-m", "socbal", "lifetime", str(EXAMPLES / "lifetime.toml"), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    assert out.stdout == "" and len(out.stderr.strip().splitlines()) == 1 and message in out.stderr
    assert "Traceback" not in out.stderr


def test_lifetime_section_is_validated(tmp_path):
    bad = dict(WEEK, lifetime={"chemistry": "lead-acid"})
    with pytest.raises(InputError, match=r"lifetime\.chemistry"):
        scenario_from_dict(bad)
    scenario = load_scenario(EXAMPLES / "lifetime.toml")
    assert scenario.lifetime.chemistry == "lfp" and scenario.run.horizon_h == 8760


@pytest.mark.skipif(not HAS_BLAST, reason="BLAST-Lite (socbal[lifetime]) is not installed")
def test_fade_in_worker_processes_equals_fade_in_process():
    time_s = np.arange(0, 14 * 86400, 900.0)
    tasks = [(time_s, 50 + depth / 2 * np.sin(2 * np.pi * time_s / 86400), 25.0, 1.0, "lfp") for depth in (20, 80)]
    serial = study_module._fade_all(tasks, workers=1)
    pooled = study_module._fade_all(tasks, workers=2)
    for a, b in zip(serial, pooled):
        pd.testing.assert_frame_equal(a, b)
    assert serial[1].capacity_frac.iloc[-1] < serial[0].capacity_frac.iloc[-1]


def test_the_printed_capacity_spread_is_not_labelled_as_a_soc_spread(cycles_only):
    # The strategy table's "spread" column is max - min of the packs' capacities after the years, and read like the
    # SOC spread of every other table.
    out = io.StringIO()
    print_study(cycles_only, Console(file=out, width=300))
    text = out.getvalue()
    header = next(line for line in text.splitlines() if "strategy" in line and "years to" in line)
    cells = [cell.strip() for cell in header.strip("┃│ ").split("┃")]
    assert "cap spread" in cells and "spread" not in cells and "worst cap %" in cells, cells
    assert "the packs' max - min capacity, % points (not an SOC spread)" in " ".join(text.split())
