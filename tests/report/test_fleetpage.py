"""The fleet page reads a fleet results folder: distributions and the worst devices, chosen by `socbal report`."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from socbal.cli import app
from socbal.errors import InputError
from socbal.report import fleet_report, write_folder_report
from socbal.report.fleetpage import histograms_figure, load_fleet


@pytest.fixture()
def fleet_dir(tmp_path):
    """A fleet results folder of 50 devices × 2 packs with known metrics (max spread = device number / 2)."""
    rng = np.random.default_rng(3)
    n = 50
    devices = pd.DataFrame(
        {
            "device": np.arange(n),
            "load_scale": rng.uniform(0.5, 1.5, n),
            "max_spread_pct": np.arange(n) / 2.0,
            "final_spread_pct": np.arange(n) / 4.0,
            "first_reserve_h": np.where(np.arange(n) % 2, np.nan, 3.0),
            "unserved_kwh": np.zeros(n),
            "losses_kwh": rng.uniform(0.1, 0.2, n),
            "main_unit_kwh": rng.uniform(0.05, 0.1, n),
            "throughput_efc_max": rng.uniform(0.1, 0.3, n),
        }
    )
    packs = pd.DataFrame(
        {"device": np.repeat(np.arange(n), 2), "pack_id": ["a", "b"] * n, "throughput_efc": rng.uniform(0.1, 0.3, 2 * n)}
    )
    folder = tmp_path / "fleet"
    folder.mkdir()
    devices.to_parquet(folder / "devices.parquet")
    packs.to_parquet(folder / "packs.parquet")
    summary = {"scenario": "f", "devices": n, "packs_per_device": 2, "seed": 1, "step_s": 1, "horizon_h": 2, "distribution": {}}
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def test_histograms_count_every_device_and_pack(fleet_dir):
    devices, packs, _ = load_fleet(fleet_dir)
    spread, cycles, losses = histograms_figure(devices, packs).data
    assert sum(spread.y) == 50 and sum(losses.y) == 50 and sum(cycles.y) == 100


def test_worst_devices_are_listed_by_max_spread(fleet_dir):
    text = fleet_report(fleet_dir, worst=5).to_html()
    table = text[text.index("The 5 devices") :]
    rows = [int(d) for d in re.findall(r"<tr>\s*<th>(\d+)</th>", table)]
    assert rows == [49, 48, 47, 46, 45]


def test_socbal_report_chooses_the_fleet_page(fleet_dir):
    result = CliRunner().invoke(app, ["report", str(fleet_dir)])
    assert result.exit_code == 0, result.output
    text = (fleet_dir / "report.html").read_text()
    assert "socbal fleet report" in text and (fleet_dir / "figures" / "histograms.png").is_file()


def test_a_fleet_folder_without_the_columns_is_one_clear_error(fleet_dir):
    pd.DataFrame({"device": [0]}).to_parquet(fleet_dir / "devices.parquet")
    with pytest.raises(
        InputError, match="devices.parquet: missing max_spread_pct, .*load_scale; expected the results of .socbal fleet."
    ):
        write_folder_report(fleet_dir)


def test_an_older_fleet_folder_whose_losses_left_out_the_main_unit_is_refused(fleet_dir):
    # Before truth audit 6 a fleet's losses_kwh were conversion + standby only; its folder has no main_unit_kwh.
    pd.read_parquet(fleet_dir / "devices.parquet").drop(columns="main_unit_kwh").to_parquet(fleet_dir / "devices.parquet")
    with pytest.raises(InputError, match=r"devices.parquet: missing main_unit_kwh; expected the results of .socbal fleet.$"):
        write_folder_report(fleet_dir)
