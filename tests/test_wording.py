"""Counts in words: the noun in the singular for exactly one, in the plural otherwise."""

import pytest

from socbal.wording import count, fixed


@pytest.mark.parametrize(
    "n, noun, plural, expected",
    [
        (1, "combination", None, "1 combination"),
        (2, "combination", None, "2 combinations"),
        (0, "pack", None, "0 packs"),
        (1.0, "year", None, "1 year"),
        (2.5, "year", None, "2.5 years"),
        (1, "strategy", "strategies", "1 strategy"),
        (3, "strategy", "strategies", "3 strategies"),
    ],
)
def test_count_says_one_in_the_singular_and_every_other_number_in_the_plural(n, noun, plural, expected):
    assert count(n, noun, plural) == expected


@pytest.mark.parametrize(
    "value, digits, expected",
    [(-4.5e-12, 1, "0.0"), (-0.04, 1, "0.0"), (-0.05, 1, "-0.1"), (-0.7, 1, "-0.7"), (0.0, 2, "0.00"), (2.345, 2, "2.35")],
)
def test_fixed_drops_the_sign_of_a_value_that_rounds_to_zero(value, digits, expected):
    # compare's DC-DC energy balance residual (-4.5e-12 Wh) printed as "-0.0"
    assert fixed(value, digits) == expected
