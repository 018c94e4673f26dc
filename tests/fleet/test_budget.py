"""The fleet's plausibility check: memory and run time estimated before it starts, refused or warned about."""

import logging

import numpy as np
import pytest

from socbal.errors import InputError
from socbal.fleet.budget import (
    LONG_RUN_S,
    MEMORY_SHARE,
    available_memory_bytes,
    check_fleet_budget,
    fleet_budget,
)
from socbal.fleet.results import build_fleet_result
from socbal.fleet.runner import prepare_fleet, run_chunk, run_fleet

from .conftest import EXAMPLES, small_scenario
from .test_cli import socbal


def test_estimate_grows_with_devices_packs_and_steps():
    one = fleet_budget(1000, 6, 86_400, cores=2)
    assert fleet_budget(2000, 6, 86_400, cores=2).memory_bytes == pytest.approx(2 * one.memory_bytes)
    assert fleet_budget(1000, 12, 86_400, cores=2).memory_bytes > 1.5 * one.memory_bytes
    assert fleet_budget(1000, 6, 86_400, cores=2, dask=True).memory_bytes > one.memory_bytes
    assert one.pack_steps == 1000 * 6 * 86_400
    # docs/performance.md: 1000 devices x 6 packs x a day at 1 s took 76-95 s on two busy cores (load average 6).
    assert 60 < one.seconds < 200
    assert fleet_budget(1000, 6, 2 * 86_400, cores=2).seconds > 1.9 * one.seconds
    assert fleet_budget(1000, 6, 86_400, cores=4).seconds == pytest.approx(one.seconds / 2)


def test_memory_estimate_covers_what_a_small_fleet_holds():
    scenario = small_scenario()
    base, draw, devices, seed = prepare_fleet(scenario, 300, 1)
    pack_out, dev_out, stats = run_chunk(base, draw, threads=1)
    result = build_fleet_result(scenario, draw, pack_out, dev_out, stats, seed=seed)
    held = sum(a.nbytes for a in (draw.params, draw.soh_pct, draw.soc_true0_pct, draw.soc_est0_pct, draw.load_scale))
    held += pack_out.nbytes + dev_out.nbytes + stats.nbytes
    held += int(result.devices.memory_usage(deep=True).sum() + result.packs.memory_usage(deep=True).sum())
    assert fleet_budget(devices, len(scenario.all_packs), scenario.run.n_steps).memory_bytes >= held


def test_a_fleet_over_the_memory_is_refused_in_one_line_naming_the_field_and_what_fits():
    budget = fleet_budget(1_000_000, 6, 100)
    room = budget.memory_bytes / 2
    with pytest.raises(InputError) as error:
        check_fleet_budget(1_000_000, 6, 100, "devices (--devices)", available_bytes=room)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("devices (--devices): value 1000000 is not allowed: the fleet needs about")
    fits = int(message.split("at most ")[1].split()[0])
    assert fits == int(MEMORY_SHARE * room / (budget.memory_bytes / 1_000_000))
    check_fleet_budget(fits, 6, 100, available_bytes=room)  # what it says fits does fit
    with pytest.raises(InputError):
        check_fleet_budget(fits + 2, 6, 100, available_bytes=room)
    check_fleet_budget(10**12, 6, 100, available_bytes=None if available_memory_bytes() is None else np.inf)


def test_a_long_fleet_is_warned_about(caplog):
    long_steps = int(LONG_RUN_S * 3e6 * 2 / (1000 * 6)) * 2
    with caplog.at_level(logging.WARNING, logger="socbal.fleet"):
        check_fleet_budget(1000, 6, 86_400, available_bytes=np.inf, cores=2)
        assert not caplog.records
        check_fleet_budget(1000, 6, long_steps, "fleet.devices", available_bytes=np.inf, cores=2)
    [record] = caplog.records
    assert record.getMessage().startswith("fleet.devices: 1000 devices x 6 packs")
    assert "roughly" in record.getMessage() and "on 2 cores" in record.getMessage()


def test_this_machine_reports_its_available_memory():
    room = available_memory_bytes()
    assert room is not None and 0 < room < 1e15


def test_library_run_refuses_a_fleet_from_the_scenario_naming_fleet_devices(monkeypatch):
    monkeypatch.setattr("socbal.fleet.budget.available_memory_bytes", lambda: 1e6)
    with pytest.raises(InputError, match=r"^fleet\.devices: value 5000 is not allowed"):
        run_fleet(small_scenario(devices=5000))


def test_cli_refuses_a_fleet_that_cannot_fit_in_one_line_and_writes_nothing(tmp_path):
    out = tmp_path / "never"
    run = socbal("fleet", str(EXAMPLES / "fleet.toml"), "--devices", "100000000000", "--out", str(out))
    assert run.returncode == 2, run.stderr
    assert run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in run.stderr, run.stderr
    assert "--devices" in lines[0] and "value 100000000000" in lines[0] and "at most" in lines[0]
    assert not out.exists()
