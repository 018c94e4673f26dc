"""``socbal report``, ``socbal simulate --report`` and the root --quiet/--verbose options."""

from __future__ import annotations

import shutil

import pytest
from typer.testing import CliRunner

from socbal.cli import app

from .conftest import EXAMPLE

runner = CliRunner()


def test_report_command_writes_html_and_pngs(results_dir, tmp_path):
    folder = shutil.copytree(results_dir, tmp_path / "r")
    result = runner.invoke(app, ["report", str(folder)])
    assert result.exit_code == 0, result.output
    assert (folder / "report.html").is_file()
    assert len(list((folder / "figures").glob("*.png"))) == 4
    assert f"report written to {folder / 'report.html'}" in result.stdout


def test_report_out_and_no_png(results_dir, tmp_path):
    result = runner.invoke(app, ["report", str(results_dir), "--out", str(tmp_path / "sub" / "x.html"), "--no-png"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "sub" / "x.html").is_file() and not (tmp_path / "sub" / "figures").exists()
    result = runner.invoke(app, ["report", str(results_dir), "-o", str(tmp_path), "--no-png"])
    assert result.exit_code == 0 and (tmp_path / "report.html").is_file()


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda p: p / "missing", "results folder not found: {p}"),
        (
            lambda p: p,
            "{p}: not a results folder socbal knows; expected the files of one of socbal simulate HOME.toml: home.parquet",
        ),
        (lambda p: (p / "f.txt").write_text("x") and p / "f.txt", "{p}: not a folder"),
    ],
)
def test_bad_results_folder_is_one_line_and_exit_2(tmp_path, make, expected):
    path = make(tmp_path)
    result = runner.invoke(app, ["report", str(path)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
    assert expected.format(p=path) in result.stderr


def test_simulate_with_report_and_root_quiet(tmp_path):
    out = tmp_path / "sim"
    result = runner.invoke(app, ["--quiet", "simulate", str(EXAMPLE), "--out", str(out), "--report"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "" and result.stderr == ""
    assert (out / "report.html").is_file() and (out / "figures" / "soc.png").is_file()


def test_verbose_logs_to_stderr_and_quiet_excludes_verbose(results_dir, tmp_path):
    result = runner.invoke(app, ["-v", "report", str(results_dir), "-o", str(tmp_path / "v.html"), "--no-png"])
    assert result.exit_code == 0
    assert "wrote" in result.stderr and str(tmp_path / "v.html") in result.stderr
    result = runner.invoke(app, ["-q", "-v", "report", str(results_dir)])
    assert result.exit_code == 2 and "exclude each other" in result.stderr


@pytest.mark.parametrize(
    "args, words",
    [
        ([], ["--quiet", "--verbose", "allocate", "simulate", "report"]),
        (["report"], ["RESULTS", "--out", "--png", "--no-png", "offline", "3-15 %", "PNG"]),
        (["simulate"], ["SCENARIO", "--out", "--quiet", "--report", "packs.parquet", "summary.json"]),
        (["allocate"], ["FILE", "--explain"]),
    ],
)
def test_help_is_complete(args, words):
    result = runner.invoke(app, [*args, "--help"], terminal_width=200)
    assert result.exit_code == 0
    text = result.stdout
    for word in words:
        assert word.lower() in text.lower(), f"{word!r} missing from socbal {' '.join(args)} --help"
