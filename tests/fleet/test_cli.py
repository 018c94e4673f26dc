"""socbal fleet: results written, bad input as one line and exit status 2."""

import subprocess
import sys

import pandas as pd
import pytest

from .conftest import EXAMPLES


def socbal(*args):
    return subprocess.run([sys.executable, "-m", "socbal", *args], capture_output=True, text=True, timeout=300)


def test_fleet_writes_per_device_results(tmp_path):
    scenario = tmp_path / "f.toml"
    text = (EXAMPLES / "fleet.toml").read_text().replace("horizon_h = 24", "horizon_h = 0.25")
    scenario.write_text(text)
    out = socbal("fleet", str(scenario), "--devices", "5", "--seed", "3", "--out", str(tmp_path / "r"))
    assert out.returncode == 0, out.stderr
    assert "p95" in out.stdout and "throughput EFC per pack" in out.stdout
    devices = pd.read_parquet(tmp_path / "r" / "devices.parquet")
    assert len(devices) == 5 and len(pd.read_parquet(tmp_path / "r" / "packs.parquet")) == 30
    assert {"summary.json", "scenario.json"} <= {p.name for p in (tmp_path / "r").iterdir()}


def test_fleet_bad_input_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[fleet]\nold_pack_share = 2\n")
    for args in (
        ["fleet", str(bad)],
        ["fleet", str(EXAMPLES / "fleet.toml"), "--devices", "0"],
        ["fleet", str(tmp_path / "missing.toml")],
    ):
        out = socbal(*args)
        assert out.returncode == 2, out.stderr
        assert out.stdout == ""
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert "fleet.old_pack_share" in socbal("fleet", str(bad)).stderr


@pytest.mark.parametrize("scenario", ["spec_example.toml", "home_two_units.toml"])
def test_a_scenario_without_a_fleet_section_is_refused(tmp_path, scenario):
    """Without [fleet] every drawn device or home would be the same one: refused in one line, nothing written."""
    out = socbal("fleet", str(EXAMPLES / scenario), "--out", str(tmp_path / "r"))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith(f"error: {EXAMPLES / scenario}: fleet: missing: ") and "[fleet]" in line
    assert out.stdout == "" and not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "scenario, args, expected",
    [
        ("fleet.toml", ["--devices", "0"], "error: --devices: value 0 is not allowed: must be >= 1"),
        ("fleet.toml", ["--devices", "2", "--seed", "-1"], "error: --seed: value -1 is not allowed: must be >= 0"),
        ("home_fleet.toml", ["--homes", "0"], "error: --homes: value 0 is not allowed: must be >= 1"),
        ("home_fleet.toml", ["--homes", "2", "--seed", "-4"], "error: --seed: value -4 is not allowed: must be >= 0"),
    ],
)
def test_fleet_option_errors_name_the_option_as_typed(tmp_path, scenario, args, expected):
    out = socbal("fleet", str(EXAMPLES / scenario), *args, "--out", str(tmp_path / "r"))
    assert out.returncode == 2 and out.stderr.strip() == expected
    assert not (tmp_path / "r").exists()
