"""What the CLI prints: --version, --json summaries on every summary command, tables at full width in pipes."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import socbal
from socbal.cli import app

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_version():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"socbal {socbal.__version__}"


def short(tmp_path, name, replace):
    text = (EXAMPLES / f"{name}.toml").read_text()
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("command", "example", "replace", "extra"),
    [
        ("simulate", "spec_example", {}, []),
        ("compare", "compare_mixed", {"horizon_h = 24": "horizon_h = 2"}, []),
        ("fleet", "fleet", {"horizon_h = 24": "horizon_h = 0.25"}, ["--devices", "3"]),
        (
            "lifetime",
            "lifetime",
            {"horizon_h = 8760": "horizon_h = 24", "step_s = 60": "step_s = 300"},
            ["--strategies", "spec,equal", "--years", "1", "--max-years", "1", "-j", "1"],
        ),
    ],
)
def test_json_prints_the_summary_that_was_saved(tmp_path, command, example, replace, extra):
    out = tmp_path / "out"
    result = CliRunner().invoke(app, [command, str(short(tmp_path, example, replace)), "--json", "-o", str(out), *extra])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == json.loads((out / "summary.json").read_text())
    assert f"results written to {out}/" in result.stderr


def test_tables_in_a_pipe_are_at_full_width(tmp_path):
    result = CliRunner().invoke(app, ["simulate", str(EXAMPLES / "german_household.toml"), "-o", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    header = next(line for line in result.stdout.splitlines() if "SOC0 %" in line)
    assert "loss kWh" in header and "reserve h" in header  # one header line: rich assumed 80 columns and cut it
    assert "…" not in result.stdout
