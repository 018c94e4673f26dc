"""`socbal report DIR` picks the page by what the folder holds: every kind of results folder, and a clear refusal."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from socbal.cli import app
from socbal.compare import compare_scenario
from socbal.compare.result import CompareResult
from socbal.errors import InputError
from socbal.lifetime.study import LifetimeStudy, run_study
from socbal.report import write_folder_report
from socbal.report.build import FOLDER_KINDS, folder_kind
from socbal.report.compare import comparison_page
from socbal.report.lifetime import lifetime_page
from socbal.scenario import scenario_from_dict

runner = CliRunner()

#: Two packs at 80 / 40 %, 500 W for 4 h at 60 s steps (seconds to run).
SMALL = {
    "name": "small",
    "run": {"step_s": 60, "horizon_h": 4},
    "device": {"ac_output_limit_w": 800},
    "main": {"id": "main", "soc_pct": 80},
    "packs": [{"id": "p1", "soc_pct": 40}],
    "load": {"kind": "constant", "power_w": 500},
    "pv": {"kind": "constant", "power_w": 0},
}


@pytest.fixture(scope="module")
def compare_dir(tmp_path_factory):
    result = compare_scenario(scenario_from_dict(SMALL))
    return result, result.save(tmp_path_factory.mktemp("compare") / "small-compare")


@pytest.fixture(scope="module")
def lifetime_dir(tmp_path_factory):
    day = {**SMALL, "run": {"step_s": 300, "horizon_h": 24}, "load": {"kind": "synthetic-household", "daily_kwh": 4}}
    study = run_study(scenario_from_dict(day), years=1, strategies=["spec", "equal"], fade=False)
    return study, study.save(tmp_path_factory.mktemp("lifetime") / "day-lifetime")


def test_a_compare_folder_gets_the_page_socbal_compare_writes(compare_dir, tmp_path):
    result, folder = compare_dir
    html, pngs = write_folder_report(folder, tmp_path / "report.html", png=False)
    assert html.read_text() == comparison_page(result).to_html() and pngs == []
    assert CompareResult.load(folder).metric_table().equals(result.metric_table())


def test_a_lifetime_folder_gets_the_page_socbal_lifetime_writes(lifetime_dir):
    study, folder = lifetime_dir
    html, _ = write_folder_report(folder, png=False)
    assert html == folder / "lifetime.html"  # where `socbal lifetime --report` writes it
    assert html.read_text() == lifetime_page(study).to_html()
    loaded = LifetimeStudy.load(folder)
    assert loaded.strategies.equals(study.strategies) and loaded.fade_error == study.fade_error and loaded.years == 1


def test_the_cli_reports_a_compare_folder_with_its_figures(compare_dir, tmp_path):
    _, folder = compare_dir
    out = tmp_path / "page"
    out.mkdir()
    result = runner.invoke(app, ["report", str(folder), "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    assert "Series, parallel and DC-DC compared" in (out / "report.html").read_text()
    assert {p.stem for p in (out / "figures").glob("*.png")} == {"spread", "soc", "metrics"}


def touch(folder: Path, names) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"")
    return folder


@pytest.mark.parametrize("kind", FOLDER_KINDS, ids=lambda k: k.command)
def test_each_kind_is_told_apart_by_its_files_alone(tmp_path, kind):
    assert folder_kind(touch(tmp_path / "f", kind.files)) is kind
    assert folder_kind(touch(tmp_path / "g", (*kind.files, "extra.log", "notes.txt"))) is kind


def test_no_kind_is_hidden_behind_an_earlier_one():
    for i, kind in enumerate(FOLDER_KINDS):
        for earlier in FOLDER_KINDS[:i]:
            assert not set(earlier.files) <= set(kind.files), f"{kind.command} folders would be read as {earlier.command}"


def test_an_unknown_folder_is_refused_in_one_line_naming_every_kind(tmp_path):
    touch(tmp_path, ["data.csv", "summary.json"])
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2 and result.stdout == "" and "Traceback" not in result.stderr
    line = result.stderr.strip()
    assert "\n" not in line and f"{tmp_path}: not a results folder socbal knows" in line
    for kind in FOLDER_KINDS:
        assert f"{kind.command}: {', '.join(kind.files)}" in line
    assert not (tmp_path / "report.html").exists()


def test_an_incomplete_folder_names_what_it_misses(compare_dir, tmp_path):
    _, folder = compare_dir
    partial = touch(tmp_path / "c", [p.name for p in folder.iterdir() if p.name != "spread.parquet"])
    with pytest.raises(InputError, match=r"incomplete socbal compare results: missing spread\.parquet$"):
        folder_kind(partial)


def test_a_broken_file_is_one_line_naming_the_folder(compare_dir, tmp_path):
    _, folder = compare_dir
    broken = touch(tmp_path / "b", [p.name for p in folder.iterdir()])  # every file there, all empty
    result = runner.invoke(app, ["report", str(broken)])
    assert result.exit_code == 2 and f"{broken}: cannot read the comparison results" in result.stderr
    assert result.stderr.strip().count("\n") == 0


def test_a_saved_study_reports_without_the_lifetime_extra(lifetime_dir, tmp_path):
    _, folder = lifetime_dir
    blocked = "; ".join(f"sys.modules[{m!r}] = None" for m in ("rainflow", "blast", "dask", "distributed"))
    write = f"write_folder_report({str(folder)!r}, {str(tmp_path / 'x.html')!r}, png=False)"
    code = f"import sys; {blocked}\nfrom socbal.report import write_folder_report\n{write}\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "x.html").is_file()
