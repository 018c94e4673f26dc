"""The home summary's terminal text: units, decimals, and what does not apply."""

import io
import math

import pytest
from rich.console import Console

from socbal.home.show import HOME_ROWS, NOT_APPLICABLE, home_value_text, print_home_summary


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (5.0, "s", "5 s"),
        (12.5, "s", "12.5 s"),
        (0.0, "s", "0 s"),
        (1.23456, "kWh", "1.235 kWh"),
        (-1e-12, "kWh", "0.000 kWh"),  # rounding either side of 0, not a negative energy
        (3, "", "3"),
        (7, "s", "7 s"),
        (math.nan, "s", NOT_APPLICABLE),
        (None, "s", NOT_APPLICABLE),
    ],
)
def test_durations_show_as_measured_and_energies_with_three_decimals(value, unit, text):
    assert home_value_text(value, unit) == text


def test_the_title_stays_on_one_line():
    # "home-dawn — home strategy socbal, staging auto, 0.5 h at" / "1 s": wrapped to the table's width
    summary = {"scenario": "home-dawn", "strategy": "socbal", "staging": "auto", "horizon_h": 0.5, "step_s": 1.0}
    home = {key: 0.0 for _, key, _ in HOME_ROWS} | {"devices": {}, "writes_per_device_per_h": {}}
    console = Console(file=io.StringIO(), width=120)
    print_home_summary({**summary, "home": home}, console=console)
    assert "home-dawn — home strategy socbal, staging auto, 0.5 h at 1 s" in console.file.getvalue().splitlines()[0]
