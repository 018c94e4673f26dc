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


def test_the_energy_table_shows_the_export_so_the_flows_add_up(capsys):
    # a fixed-output device pushes 800 W into a 300 W house: 500 W went to the grid, and the table had no row for it
    import re

    import socbal
    from socbal.console import print_summary

    scenario = {
        "run": {"step_s": 300, "horizon_h": 1},
        "device": {"mode": "fixed-output", "fixed_output_w": 800},
        "main": {"id": "main", "soc_pct": 80},
        "load": {"kind": "constant", "power_w": 300},
    }
    summary = socbal.simulate(scenario).summary
    print_summary(summary)
    out = capsys.readouterr().out
    export = re.search(r"│ export to the grid\s+│\s+([\d.]+) │", out)
    assert export and float(export.group(1)) == round(summary["energy_kwh"]["export"], 3) == 0.5


def test_a_one_pack_device_shows_no_spread_and_an_unsettled_spread_says_never(capsys):
    # A main unit alone showed "max 0.00 %" and "time to < 1 point 0.00 h"; a spread that grows showed 0.00 h too.
    import re

    import socbal
    from socbal.console import print_summary

    one = {
        "run": {"step_s": 300, "horizon_h": 1},
        "main": {"id": "main", "soc_pct": 80},
        "load": {"kind": "constant", "power_w": 300},
    }
    print_summary(socbal.simulate(one).summary)
    out = capsys.readouterr().out
    assert re.search(r"│ max\s+│\s+n/a \(one pack\) │", out) and "0.00 %" not in out
    assert re.search(r"│ settles below 5 points\s+│\s+n/a \(one pack\) │", out)
    assert re.search(r"│ first pack at reserve\s+│\s+— │", out)  # applies to one pack too: it never got there
    apart = {**one, "settings": {"strategy": "priority"}, "packs": [{"id": "p1", "soc_pct": 80}]}
    print_summary(socbal.simulate(apart).summary)  # starts balanced, the main unit gives first: it ends apart
    out = capsys.readouterr().out
    assert re.search(r"│ settles below 1 point\s+│\s+never \(ends above\) │", out)


def test_a_title_wider_than_the_columns_stays_on_one_line():
    # "standby-72h-no-aux — strategy spec, reserve 5 %, 72 h at 300 s" was wrapped to the two columns' width,
    # between the 5 and its %
    title = "standby-72h-no-aux — strategy spec, reserve 5 %, 72 h at 300 s"
    wide = Console(file=io.StringIO(), width=120)
    wide.print(table(title, ["SOC spread", "value"], [("max", "15.00 %")]))
    assert title in wide.file.getvalue().splitlines()[0]
    narrow = Console(file=io.StringIO(), width=40)  # narrower than the title: wrapped, never wider than the console
    narrow.print(table(title, ["SOC spread", "value"], [("max", "15.00 %")]))
    assert max(len(line) for line in narrow.file.getvalue().splitlines()) <= 40
