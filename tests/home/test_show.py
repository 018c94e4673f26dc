"""The home summary's terminal text: units, decimals, and what does not apply."""

import math

import pytest

from socbal.home.show import NOT_APPLICABLE, home_value_text


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
