"""Sizing studies: the combinations, the monotonic facts of storage, marginal gains, money and the CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from socbal.cli import app
from socbal.errors import InputError
from socbal.scenario import TariffSpec, load_scenario, scenario_from_dict
from socbal.sweep import marginal_gains, run_sweep, sweep_cases

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sizing.toml"


def _week(tmp_path: Path) -> Path:
    """examples/sizing.toml shortened to one June week at 300 s steps (fast)."""
    text = EXAMPLE.read_text().replace("2026-01-01T00:00:00", "2026-06-01T00:00:00")
    text = text.replace("step_s = 60", "step_s = 300").replace("horizon_h = 8760", "horizon_h = 168")
    path = tmp_path / "week.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def week_sweep(tmp_path_factory):
    scenario = load_scenario(_week(tmp_path_factory.mktemp("sweep")))
    return scenario, run_sweep(scenario, packs=[0, 1, 2, 3], pv_kwp=[0.8, 2.4], workers=2)


def test_cases_cover_every_combination_with_copied_packs():
    scenario = load_scenario(EXAMPLE)
    cases = sweep_cases(scenario, packs=[3, 0], pv_kwp=[0.8], strategies=["spec", "equal"])
    assert [(c.strategy, c.pv_kwp, c.packs) for c in cases] == [
        ("spec", 0.8, 0),
        ("spec", 0.8, 3),
        ("equal", 0.8, 0),
        ("equal", 0.8, 3),
    ]
    three = cases[1].scenario
    assert [p.id for p in three.packs] == ["pack-1", "added-1", "added-2"]
    assert three.packs[2].capacity_wh == scenario.packs[0].capacity_wh and three.pv.kwp == 0.8
    assert cases[2].scenario.settings.strategy == "equal"


def test_more_storage_never_raises_grid_import_by_more_than_the_losses_it_adds(week_sweep):
    """With the default strategy an added pack lowers grid import, or raises it by at most the losses it adds
    (its BMS standby and its DC-DC module's losses): storage itself never costs grid energy."""
    _, result = week_sweep
    for _, part in result.table.groupby("pv_kwp"):
        part = part.sort_values("packs")
        more_import = np.diff(part["grid_import_kwh_yr"].to_numpy())
        more_losses = np.diff(part["losses_kwh_yr"].to_numpy())
        assert np.all(more_import <= more_losses + 1e-6), (more_import, more_losses)
        assert np.all(more_losses > 0), "every added pack adds standby and conversion losses"
    big_pv = result.table[result.table["pv_kwp"] == 2.4].sort_values("packs")
    assert big_pv["grid_import_kwh_yr"].iloc[1] < big_pv["grid_import_kwh_yr"].iloc[0], "the first added pack helps"
    assert big_pv["self_sufficiency_pct"].iloc[1] > big_pv["self_sufficiency_pct"].iloc[0]


def test_marginal_gain_and_payback_follow_from_the_table(week_sweep):
    _, result = week_sweep
    t = result.table[result.table["pv_kwp"] == 2.4].sort_values("packs").reset_index(drop=True)
    assert np.isnan(t.loc[0, "saved_kwh_yr"])
    saved = t.loc[0, "grid_import_kwh_yr"] - t.loc[1, "grid_import_kwh_yr"]
    assert t.loc[1, "saved_kwh_yr"] == pytest.approx(saved)
    assert t.loc[1, "gain_kwh_yr_per_kwh"] == pytest.approx(saved / (t.loc[1, "storage_kwh"] - t.loc[0, "storage_kwh"]))
    money = t.loc[0, "grid_cost_yr"] - t.loc[1, "grid_cost_yr"]
    assert t.loc[1, "payback_yr"] == pytest.approx(600.0 / money)


def test_time_of_use_prices_each_hour():
    tariff = TariffSpec(time_of_use=[{"from_hour": 7, "price_per_kwh": 0.4}, {"from_hour": 22, "price_per_kwh": 0.2}])
    price = tariff.import_price_by_hour()
    assert price[:7] == [0.2] * 7 and price[7:22] == [0.4] * 15 and price[22:] == [0.2] * 2


def test_marginal_gains_without_a_tariff_has_no_money_columns():
    table = pd.DataFrame(
        {
            "packs": [0, 1],
            "pv_kwp": [1.0, 1.0],
            "strategy": ["spec"] * 2,
            "storage_kwh": [2.0, 4.0],
            "grid_import_kwh_yr": [100.0, 80.0],
        }
    )
    out = marginal_gains(table, pack_price=500)
    assert out.loc[1, "gain_kwh_yr_per_kwh"] == pytest.approx(10.0) and "payback_yr" not in out


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"import_price_per_kwh": 0.3, "time_of_use": [{"from_hour": 0, "price_per_kwh": 0.3}]}, "either import_price_per_kwh"),
        ({"time_of_use": [{"from_hour": 5, "price_per_kwh": 0.3}, {"from_hour": 5, "price_per_kwh": 0.1}]}, "repeat"),
    ],
)
def test_bad_tariff_is_one_clear_error(raw, message):
    with pytest.raises(InputError, match=message):
        scenario_from_dict({"tariff": raw})


def test_pv_sizes_need_a_pv_with_kwp():
    with pytest.raises(InputError, match="--pv-kwp: .*has no kwp"):
        sweep_cases(scenario_from_dict({}), pv_kwp=[1.0])


def test_cli_sweep_prints_saves_and_reports(tmp_path):
    out = tmp_path / "out"
    args = ["sweep", str(_week(tmp_path)), "--packs", "0..1", "--pv-kwp", "1.6", "--workers", "1", "-o", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "grid import" in result.stdout and "payback" in result.stdout
    assert "cycles/pack/yr" in result.stdout and "…" not in result.stdout  # in a pipe at full width, no header cut
    table = pd.read_parquet(out / "sweep.parquet")
    assert list(table["packs"]) == [0, 1]
    assert json.loads((out / "summary.json").read_text())["currency"] == "EUR"
    assert "socbal sizing" in (out / "report.html").read_text()


def test_one_combination_is_counted_in_the_singular(tmp_path):
    out = tmp_path / "out"
    args = ["sweep", str(_week(tmp_path)), "--packs", "1", "--pv-kwp", "1.6", "--strategy", "spec", "--workers", "1"]
    result = CliRunner().invoke(app, [*args, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "— 1 combination, energies per year" in result.stdout
    assert "1 combination, " in (out / "report.html").read_text() and "1 combinations" not in result.stdout


def test_cli_bad_pack_range_exits_2(tmp_path):
    result = CliRunner().invoke(app, ["sweep", str(EXAMPLE), "--packs", "zero..3"])
    assert result.exit_code == 2 and "--packs: value 'zero..3' is not allowed" in result.stderr


@pytest.mark.parametrize(
    "options, message",
    [
        # '3..0' is an empty range: it used to fall back to the scenario's own pack count and exit 0
        (["--packs", "3..0"], "--packs: the range or list is empty"),
        (["--packs", ","], "--packs: the range or list is empty"),
        (["--pv-kwp", "nan"], "--pv-kwp: value 'nan' is not allowed: every value must be a number > 0 kWp"),
        (["--pv-kwp", "1.6,inf"], "--pv-kwp: value '1.6,inf' is not allowed"),
        (["--pv-kwp", "0,1.6"], "--pv-kwp: value '0,1.6' is not allowed"),
        # out of range: the error named 'value 13' (the first value of the expanded range), not what was typed
        (["--packs", "0..200"], "--packs: value '0..200' is not allowed: every value must be within 0..12 expansion packs"),
        (["--packs", "-1..2"], "--packs: value '-1..2' is not allowed: every value must be within 0..12"),
        (["--packs", "0,1,13"], "--packs: value '0,1,13' is not allowed: every value must be within 0..12"),
        # a huge range is refused by its ends, before a list of 10^12 numbers is built
        (["--packs", "0..1000000000000"], "--packs: value '0..1000000000000' is not allowed"),
        (["--pack-price", "nan"], "--pack-price: value nan is not allowed"),
        (["--strategy", "bogus"], "--strategy: value 'bogus' is not allowed: one of spec,"),
    ],
)
def test_cli_empty_or_non_finite_options_exit_2_before_simulating(tmp_path, options, message):
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["sweep", str(EXAMPLE), *options, "-o", str(out)])
    assert result.exit_code == 2 and message in result.stderr, result.output
    assert not out.exists()


@pytest.mark.parametrize(
    "sweep, field",
    [({"packs": [-1]}, "sweep.packs[0]"), ({"packs": [13]}, "sweep.packs[0]"), ({"strategies": ["x"]}, "sweep.strategies[0]")],
)
def test_bad_sweep_section_is_refused_when_the_scenario_is_read(sweep, field):
    with pytest.raises(InputError, match=rf"^scenario: {re.escape(field)}: value "):
        scenario_from_dict({"sweep": sweep})


def test_a_short_horizon_is_warned_about(caplog):
    with caplog.at_level("WARNING", logger="socbal.sweep"):
        sweep_cases(scenario_from_dict({"run": {"horizon_h": 24}}))
    assert "scaled to a year" in caplog.text


@pytest.mark.parametrize(
    "option, sweep, message",
    [
        (["--pack-price", "500"], "", "--pack-price: value 500 needs a [tariff] section"),
        ([], "\n[sweep]\npack_price = 600\n", "sweep.pack_price: value 600 needs a [tariff] section"),
    ],
)
def test_a_pack_price_without_a_tariff_is_refused_before_simulating(tmp_path, option, sweep, message):
    # `--pack-price` (help: "needs [tariff]") without a [tariff] ran, exit 0, with no payback column and no word
    scenario = tmp_path / "no_tariff.toml"
    scenario.write_text(EXAMPLE.read_text().split("[sweep]")[0] + sweep)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["sweep", str(scenario), "--packs", "0..1", *option, "-o", str(out)])
    assert result.exit_code == 2 and message in result.stderr, result.output
    assert not out.exists()
