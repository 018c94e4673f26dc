"""The command line: the allocate contract, simulate output, and clear errors for bad input."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SPEC_INPUT = {
    "settings": {"backup_reserve_pct": 10, "ems_version": "1.01.05"},
    "packs": [
        {"id": "main", "soc_pct": 80, "capacity_wh": 1920, "max_discharge_w": 1200, "max_charge_w": 1200},
        {"id": "p1", "soc_pct": 40, "capacity_wh": 1920, "max_discharge_w": 1200, "max_charge_w": 1200},
    ],
    "request": {"discharge_w": 900},
}


def socbal(*args, stdin: str | None = None):
    return subprocess.run([sys.executable, "-m", "socbal", *args], input=stdin, capture_output=True, text=True, timeout=300)


def test_allocate_contract_from_stdin():
    out = socbal("allocate", stdin=json.dumps(SPEC_INPUT))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {
        "packs": [
            {"id": "main", "power_w": 600.0, "state": "discharging"},
            {"id": "p1", "power_w": 300.0, "state": "discharging"},
        ],
        "served_w": 900.0,
        "unserved_w": 0.0,
    }


def test_allocate_from_file_with_explain(tmp_path):
    f = tmp_path / "in.json"
    f.write_text(json.dumps(SPEC_INPUT))
    out = socbal("allocate", str(f), "--explain")
    packs = json.loads(out.stdout)["packs"]
    # the default rule: capacity x e / (1 + e / 210), e = 80 - 10 points above the reserve
    assert packs[0]["reason"] == "share by weight" and packs[0]["weight"] == pytest.approx(1920 * 70 / (1 + 70 / 210))


def _with(path: str, value):
    raw = json.loads(json.dumps(SPEC_INPUT))
    target = raw
    keys = path.split(".")
    for k in keys[:-1]:
        target = target[int(k)] if k.isdigit() else target[k]
    target[keys[-1]] = value
    return json.dumps(raw)


@pytest.mark.parametrize(
    "stdin,field",
    [
        (_with("packs.0.soc_pct", 120), "packs[0].soc_pct"),
        (_with("settings.backup_reserve_pct", 3), "settings.backup_reserve_pct"),
        (_with("packs.1.capacity_wh", -5), "packs[1].capacity_wh"),
        (_with("packs.1.soc_pct", "NaN").replace('"NaN"', "NaN"), "packs[1].soc_pct"),
        (_with("settings.strategy", "fastest"), "settings.strategy"),
        (_with("settings.ems_version", "1.x"), "settings.ems_version"),
        (_with("request", {"charge_w": 100}), "request"),
        (_with("request", {"discharge_w": 100, "charge_w": 5, "source": "pv"}), "request"),
        (_with("packs.0.soc", 50), "packs[0].soc"),
        (_with("packs.0.soc_pct", True), "packs[0].soc_pct"),
        (_with("packs.0.soc_pct", "50"), "packs[0].soc_pct"),
        (_with("packs.0.reserve_latched", "yes"), "packs[0].reserve_latched"),
        (_with("request", {"discharge_w": True}), "request.discharge_w"),
        (_with("packs.0.capacity_wh", 1e308), "packs[0].capacity_wh"),
        (_with("request", {"discharge_w": 1e308}), "request.discharge_w"),
        pytest.param("[" * 100_000 + "]" * 100_000, "nested too deeply", id="deeply-nested"),
        ('{"packs": [', "JSON"),
        ("[1, 2]", "JSON object"),
    ],
)
def test_allocate_bad_input_names_the_field(stdin, field):
    out = socbal("allocate", stdin=stdin)
    assert out.returncode == 2
    assert out.stdout == ""
    assert field in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_simulate_writes_results_and_prints_summary(tmp_path):
    out = socbal("simulate", str(EXAMPLES / "spec_example.toml"), "--out", str(tmp_path / "r"))
    assert out.returncode == 0, out.stderr
    assert "spread" in out.stdout.lower()
    packs = pd.read_parquet(tmp_path / "r" / "packs.parquet")
    assert set(packs.pack_id) == {"main", "p1"}
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["spread"]["initial_pct"] == 40.0


@pytest.mark.parametrize(
    "toml,field",
    [
        ("[main]\nid='main'\nsoc_pct = 120\n", "main.soc_pct"),
        ("[settings]\nbackup_reserve_pct = 3\n", "settings.backup_reserve_pct"),
        ("[settings]\nstrategy = 'magic'\n", "settings.strategy"),
        ("[[packs]]\nid='p1'\ncapacity_wh = -1\n", "packs[0].capacity_wh"),
        ("[run]\nstep_s = 0.5\n", "run.step_s"),
        ("[load]\nkind = 'constant'\npower_w = nan\n", "load"),
        ("[load]\nkind = 'telepathy'\n", "load"),
        ("[run\nstep_s = 1", "not valid TOML"),
        ("[[packs]]\nid='main'\n", "packs[0].id: value 'main' is not allowed: pack ids must be unique, main.id has it"),
        ("[main]\nid='main'\ncapacity_wh = true\n", "main.capacity_wh"),
        ("[device]\naux_power_module = 'yes'\n", "device.aux_power_module"),
        ("[run]\nrecord_every_s = 1e308\n", "run"),
    ],
)
def test_simulate_bad_scenario_fails_cleanly_and_writes_nothing(tmp_path, toml, field):
    scenario = tmp_path / "bad.toml"
    scenario.write_text(toml)
    out = socbal("simulate", str(scenario), "--out", str(tmp_path / "out"))
    assert out.returncode == 2
    assert field in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "out").exists()


def test_repeated_pack_id_is_one_short_line_naming_the_field(tmp_path):
    scenario = tmp_path / "dup.toml"
    scenario.write_text("name = 'dup'\ndescription = '" + "x" * 500 + "'\n[[packs]]\nid = 'a'\n[[packs]]\nid = 'a'\n")
    out = socbal("simulate", str(scenario), "--out", str(tmp_path / "out"))
    assert out.returncode == 2 and out.stdout == ""
    expected = "packs[1].id: value 'a' is not allowed: pack ids must be unique, packs[0].id has it"
    assert out.stderr.strip() == f"error: {scenario}: {expected}"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["compare", "sweep", "lifetime"])
def test_a_one_device_command_refuses_a_home_scenario_by_name(tmp_path, command):
    """A home scenario given to a one-device command: one line that says so, not each home field as unknown."""
    scenario = EXAMPLES / "home_two_units.toml"
    out = socbal(command, str(scenario), "--out", str(tmp_path / "out"))
    assert out.returncode == 2 and out.stdout == ""
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith(f"error: {scenario}: home: a home scenario") and "unknown field" not in line
    assert not (tmp_path / "out").exists()


def test_allocate_missing_file_is_a_clear_error(tmp_path):
    out = socbal("allocate", str(tmp_path / "nope.json"))
    assert out.returncode == 2 and "input file not found" in out.stderr and out.stdout == ""


def test_allocate_reads_a_pipe_path_and_refuses_a_folder_or_nothing_clearly(tmp_path):
    # `socbal allocate <(...)` (a pipe, not a regular file) and /dev/null were "input file not found"
    source, fifo = tmp_path / "input.json", tmp_path / "input.fifo"
    source.write_text(json.dumps(SPEC_INPUT))
    os.mkfifo(fifo)
    writer = subprocess.Popen(["sh", "-c", f"cat '{source}' > '{fifo}'"])  # blocks until socbal opens the pipe
    out = socbal("allocate", str(fifo))
    writer.wait(timeout=60)
    assert out.returncode == 0, out.stderr
    assert [p["power_w"] for p in json.loads(out.stdout)["packs"]] == [600.0, 300.0]
    for path, message in [(tmp_path, "is a folder"), (Path(os.devnull), "input is empty")]:
        out = socbal("allocate", str(path))
        assert out.returncode == 2 and out.stdout == "", out.stderr
        assert out.stderr.count("\n") == 1 and message in out.stderr and "Traceback" not in out.stderr


def test_allocate_binary_file_is_a_clear_error(tmp_path):
    f = tmp_path / "in.json"
    f.write_bytes(b"\xff\xfe{")
    out = socbal("allocate", str(f))
    assert out.returncode == 2 and "UTF-8" in out.stderr and "Traceback" not in out.stderr


def test_simulate_out_that_is_a_file_names_the_option(tmp_path):
    (tmp_path / "afile").write_text("x")
    out = socbal("simulate", str(EXAMPLES / "spec_example.toml"), "--out", str(tmp_path / "afile"))
    assert out.returncode == 2 and "--out" in out.stderr and "Traceback" not in out.stderr


def test_simulate_out_the_system_refuses_names_the_option_and_the_reason():
    out = socbal("simulate", str(EXAMPLES / "spec_example.toml"), "--out", "/proc/socbal-results")  # no folder there
    line = out.stderr.strip()
    assert out.returncode == 2 and len(line.splitlines()) == 1 and "Errno" not in line
    assert line.startswith("error: --out '/proc/socbal-results': ")


def test_simulate_missing_file_is_a_clear_error(tmp_path):
    out = socbal("simulate", str(tmp_path / "nope.toml"))
    assert out.returncode == 2 and "not found" in out.stderr


@pytest.mark.parametrize("name", ["../escaped", "", "/tmp/socbal-abs-name"])
def test_simulate_refuses_a_name_that_would_write_outside_results(tmp_path, name):
    """The scenario's name is the default results folder: a path there would write (and overwrite) anywhere."""
    work = tmp_path / "work"
    work.mkdir()
    scenario = work / "s.toml"
    scenario.write_text(f"name = {name!r}\n[run]\nhorizon_h = 1\n")
    out = subprocess.run([sys.executable, "-m", "socbal", "simulate", str(scenario)], cwd=work, capture_output=True, text=True)
    assert out.returncode == 2 and "name: value" in out.stderr and "Traceback" not in out.stderr
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["s.toml", "work"]


@pytest.mark.parametrize(
    "content,expected",
    [
        (b"", "is empty"),
        (b"# only a comment\n\n", "is empty"),
        (b"\x7fELF\x02\x01\x01\x00\x00\x00\xff\xfe", "not a UTF-8 text file"),
        (b"\x00\x00\x00", "not valid TOML"),
    ],
)
def test_simulate_empty_or_binary_scenario_is_one_line_and_writes_nothing(tmp_path, content, expected):
    """An empty file used to run a default device for 24 h and exit 0: a scenario that says nothing is a mistake."""
    scenario = tmp_path / "s.toml"
    scenario.write_bytes(content)
    out = socbal("simulate", str(scenario), "--out", str(tmp_path / "out"))
    assert out.returncode == 2 and expected in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


def test_scenario_with_a_byte_order_mark_reads_as_without(tmp_path):
    from socbal.tomlfile import read_toml

    (tmp_path / "bom.toml").write_bytes("\ufeffname = 'x'\n[run]\nhorizon_h = 1\n".encode())
    assert read_toml(tmp_path / "bom.toml", "scenario") == {"name": "x", "run": {"horizon_h": 1}}


def test_a_folder_as_scenario_is_one_line(tmp_path):
    out = socbal("simulate", str(tmp_path))
    assert out.returncode == 2 and "is a folder" in out.stderr and "Traceback" not in out.stderr


def _request_text(discharge: str) -> str:
    """The spec input as JSON text with ``discharge`` written verbatim as the request's discharge_w."""
    return json.dumps(SPEC_INPUT).replace('"discharge_w": 900', f'"discharge_w": {discharge}')


@pytest.mark.parametrize(
    "stdin,expected",
    [
        # a 5000-digit integer raised Python's int-conversion ValueError as a traceback
        (_request_text("9" * 5000), "request.discharge_w: value inf"),
        (_request_text("9" * 30), "request.discharge_w: value 1e+30"),
        # a repeated key silently took the last value: 100 W served instead of the 900 W the first one asks
        (_request_text('900, "discharge_w": 100'), "'discharge_w' comes twice"),
    ],
)
def test_allocate_huge_integer_or_repeated_key_is_one_line(stdin, expected):
    out = socbal("allocate", stdin=stdin)
    assert out.returncode == 2 and out.stdout == ""
    assert expected in out.stderr and "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_allocate_reads_a_byte_order_mark():
    out = socbal("allocate", stdin="\ufeff" + json.dumps(SPEC_INPUT))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["served_w"] == 900.0


def test_no_help_text_shows_a_markup_escape_or_an_internal_type_label():
    """Help is plain text (rich markup is off), so a '\\[' written to escape markup shows as a stray backslash; an
    option's value is named like the others (<float>, <str>), not by click's type ('<float range>', '<list[str]>')."""
    from typer.main import get_command
    from typer.testing import CliRunner

    from socbal.cli import app

    group = get_command(app)
    for name in group.list_commands(None):  # type: ignore[arg-type]
        out = CliRunner().invoke(app, [name, "--help"])
        assert out.exit_code == 0, (name, out.output)
        assert "\\[" not in out.output, (name, out.output)
        assert not re.search(r"<[a-z]+ range>|<list\[", out.output), (name, out.output)


@pytest.mark.parametrize("option", [["--port", "5021"], ["--model", "x"], ["--serial", "s"]])
def test_emulate_refuses_options_the_socbal_protocol_would_ignore(option):
    run = socbal("emulate", str(EXAMPLES / "emulate_80_40.toml"), *option, "--duration-s", "1")
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {option[0]}: not for --protocol socbal"), run.stderr
