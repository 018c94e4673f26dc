"""The home page reads a home results folder: the pains' metrics on top, per device SOC and power, the grid."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from socbal.cli import app
from socbal.errors import InputError
from socbal.report.homepage import HOME_FILES, home_figures, home_report, load_home, thinning_note


def test_headline_and_tables_show_the_summary(home_dir):
    run = load_home(home_dir)
    h = run.summary["home"]
    text = home_report(home_dir).to_html()
    headline = text[text.index('class="headline"') : text.index("<h2")]
    assert f"{h['avoidable_import_kwh']:.3f} kWh" in headline
    assert f"{h['cross_charge_kwh']:.3f} kWh" in headline
    assert f"{h['max_handover_gap_s']:.0f} s" in headline
    assert f"{max(h['writes_per_device_per_h'].values()):.1f} / h" in headline
    assert f"{h['device_soc_spread_max_pct']:.1f} → {h['device_soc_spread_final_pct']:.1f} %" in headline
    per_device = text[text.index("<caption>Per device") :]
    assert [d for d in re.findall(r"<tr>\s*<th>(\w+)</th>", per_device)][:2] == run.device_ids


def test_every_device_has_its_soc_weakest_pack_power_and_setpoint_on_dated_axes(home_dir):
    run = load_home(home_dir)
    figures = home_figures(run)
    names = {t.name for t in figures["device_soc"].data} | {t.name for t in figures["device_power"].data}
    for did in run.device_ids:
        assert {f"{did} SOC", f"{did} weakest pack", f"{did} battery", f"{did} setpoint"} <= names
    for name in ("pains", "device_soc", "device_power", "grid"):
        x = figures[name].data[0].x
        assert np.issubdtype(np.asarray(x).dtype, np.datetime64), name
        assert pd.Timestamp(x[0]) > pd.Timestamp("2026-06-01")  # the scenario's start, not elapsed hours
    soc = figures["device_soc"].data
    weakest = {t.name: np.asarray(t.y) for t in soc if t.name.endswith("weakest pack")}
    average = {t.name: np.asarray(t.y) for t in soc if t.name.endswith(" SOC")}
    unit = run.device_ids[0]
    assert (weakest[f"{unit} weakest pack"] <= average[f"{unit} SOC"] + 1.0).all()


def test_long_runs_are_thinned_and_the_page_says_so(home_dir):
    run = load_home(home_dir)
    n = len(run.home)
    assert thinning_note(run, 1000) == f"Every one of the {n} recorded intervals is drawn."
    note = thinning_note(run, 7)
    assert note.startswith(f"{n} recorded intervals, drawn as at most 7 points per curve")
    assert f'<p class="note">{note}</p>' in home_report(home_dir, max_points=7).to_html()
    figures = home_figures(run, max_points=7)
    for name in ("pains", "device_soc", "device_power", "grid"):
        assert all(len(t.x) <= 7 for t in figures[name].data), name
    # the pains are energies: the binned mean powers times the bins' hours still add up to the run's totals
    frame = run.home.set_index("time_s")
    binned_end = np.asarray(figures["pains"].data[0].x)
    ends_s = (pd.DatetimeIndex(binned_end) - run.start).total_seconds().to_numpy()
    hours = np.diff(ends_s, prepend=0.0) / 3600.0
    for trace, column in zip(figures["pains"].data[:3], ("avoidable_import_wh", "avoidable_export_wh", "cross_charge_wh")):
        assert float(np.nansum(np.asarray(trace.y, dtype=float) * hours)) == pytest.approx(
            frame[column].sum(), rel=1e-9, abs=1e-9
        )


def test_socbal_report_picks_the_home_page_and_writes_the_pngs(home_report_dir):
    text = (home_report_dir / "report.html").read_text()
    assert "socbal home report" in text and "fleet report" not in text
    pngs = sorted(p.name for p in (home_report_dir / "figures").glob("*.png"))
    assert pngs == sorted(f"{n}.png" for n in ("pains", "device_soc", "device_power", "grid", "writes"))
    assert all((home_report_dir / "figures" / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)


def test_simulate_home_with_report_writes_the_page(tmp_path):
    example = Path(__file__).resolve().parents[2] / "examples" / "home_two_units.toml"
    out = CliRunner().invoke(app, ["simulate", str(example), "--out", str(tmp_path / "r"), "--report", "--quiet"])
    assert out.exit_code == 0, out.output
    assert "socbal home report — home-two-units" in (tmp_path / "r" / "report.html").read_text()


@pytest.mark.parametrize("broken", HOME_FILES)
def test_a_broken_home_folder_is_one_line_naming_the_file(home_dir, tmp_path, broken):
    import shutil

    folder = tmp_path / "home"
    shutil.copytree(home_dir, folder)
    if broken == "summary.json":
        (folder / broken).write_text('{"home": {}}')
    else:
        frame = pd.read_parquet(folder / broken)
        frame.drop(columns=["time_s"]).to_parquet(folder / broken)
    with pytest.raises(InputError) as err:
        load_home(folder)
    assert broken in str(err.value) and "\n" not in str(err.value)
    out = CliRunner().invoke(app, ["report", str(folder)])
    assert out.exit_code == 2 and broken in out.output
