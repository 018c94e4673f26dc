"""Counts in words: the noun in the singular for exactly one, in the plural otherwise."""

import pytest

from socbal.wording import count


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
