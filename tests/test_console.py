"""Terminal tables: one builder for every command, full width when printed to a pipe or a file."""

import io
import math

from rich.console import Console

from socbal.console import PIPE_WIDTH, num, output_console, print_distribution, table
from socbal.fleet.results import PERCENTILES

LONG_LABEL = "a metric with a label much longer than any terminal is wide " * 3


def _distribution(value: float) -> dict:
    row = {"label": LONG_LABEL, "mean": value, **{f"p{q}": value for q in PERCENTILES}}
    head = {"scenario": "s", "devices": 3, "packs_per_device": 2, "horizon_h": 1.0, "step_s": 1.0, "seed": 7}
    return {**head, "distribution": {"m": row}}


def test_tables_in_a_pipe_are_printed_whole(capsys):
    print_distribution(_distribution(123456789.125))
    out = capsys.readouterr().out
    assert LONG_LABEL.strip() in out  # neither wrapped nor cut
    assert out.count("123456789.125") == len(PERCENTILES) + 1
    assert "…" not in out


def test_pipe_console_is_wide_and_a_given_console_keeps_its_width():
    assert output_console().width == PIPE_WIDTH  # pytest captures standard output: not a terminal
    narrow = Console(file=io.StringIO(), width=40)
    print_distribution(_distribution(1.5), console=narrow)
    assert max(len(line) for line in narrow.file.getvalue().splitlines()) <= 40


def test_text_columns_left_numbers_right():
    t = table("t", ["name", "kind", "value"], [("a", "b", "1.0")], text_columns=2)
    assert [c.justify for c in t.columns] == ["left", "left", "right"]
    assert [c.no_wrap for c in t.columns] == [True, True, False]


def test_missing_numbers_show_as_a_dash():
    assert num(math.nan) == num(None) == "—"
    assert num(2.0 / 3.0, 3) == "0.667"
