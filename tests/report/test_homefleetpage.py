"""The home fleet page reads a home fleet results folder: the pains' distribution and the worst homes."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from socbal.errors import InputError
from socbal.fleet.home_runner import run_home_fleet
from socbal.report import write_folder_report
from socbal.report.build import folder_kind
from socbal.report.homefleetpage import home_fleet_report
from tests.fleet.test_home_fleet import small_home


@pytest.fixture(scope="module")
def home_fleet_dir(tmp_path_factory):
    result = run_home_fleet(small_home(hours=0.5), homes=12, seed=4)
    return result, result.save(tmp_path_factory.mktemp("homefleet") / "h-fleet")


def test_socbal_report_chooses_the_home_fleet_page(home_fleet_dir):
    result, folder = home_fleet_dir
    assert folder_kind(folder).command == "socbal fleet HOME.toml"
    html, _ = write_folder_report(folder, png=False)
    text = html.read_text()
    assert "socbal home fleet report" in text and "12 homes of up to 3 devices" in text
    assert "avoidable import, kWh" in text  # the percentiles table


def test_histograms_count_every_home_and_the_worst_are_listed_by_avoidable_import(home_fleet_dir):
    result, folder = home_fleet_dir
    page = home_fleet_report(folder, worst=4)
    several = int((result.homes["n_devices"] > 1).sum())  # the handover gap: only homes with someone to hand over to
    assert 0 < several < 12
    assert [sum(trace.y) for trace in page.figures["histograms"].data] == [12, 12, several, 12]
    text = page.to_html()
    table = text[text.index("The 4 homes") :]
    rows = [int(d) for d in re.findall(r"<tr>\s*<th>(\d+)</th>", table)]
    expected = result.homes.sort_values("avoidable_import_kwh", ascending=False)["home"].head(4).tolist()
    assert rows == expected


def test_a_home_fleet_folder_without_the_columns_is_one_clear_error(home_fleet_dir, tmp_path):
    _, folder = home_fleet_dir
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("devices.parquet", "summary.json"):
        (broken / name).write_bytes((folder / name).read_bytes())
    pd.DataFrame({"home": [0]}).to_parquet(broken / "homes.parquet")
    expected = "homes.parquet: missing n_devices, .*; expected the results of .socbal fleet HOME.toml."
    with pytest.raises(InputError, match=expected):
        write_folder_report(broken)
