"""Scenario validation: what a user's scenario may name and hold."""

import logging
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socbal.errors import InputError
from socbal.scenario import scenario_from_dict


@given(st.text(max_size=120))
def test_an_accepted_name_is_one_folder_inside_results(name):
    """The default results folder is results/<name>: whatever name is accepted stays one plain folder inside it."""
    try:
        scenario = scenario_from_dict({"name": name})
    except InputError as err:
        assert str(err).startswith("scenario: name: value ")
        return
    folder = Path("results") / scenario.name
    assert folder.parent == Path("results") and folder.name == name and not name.startswith(".")


@pytest.mark.parametrize("name", ["", ".", "..", "../escaped", "/tmp/abs", "a\\b", " x", "x ", "a\nb", "x" * 101])
def test_a_name_that_is_a_path_is_refused_in_one_line(name):
    with pytest.raises(InputError, match=r"^scenario: name: value .* \(it names the results folder") as err:
        scenario_from_dict({"name": name})
    assert "\n" not in str(err.value).replace(repr(name), "")


@pytest.mark.parametrize("name", ["spec-example-80-40", "Haushalt Müller", "SF800 #1", "v1.2+aux", "x" * 100])
def test_ordinary_names_are_kept(name):
    assert scenario_from_dict({"name": name}).name == name


def test_a_fractional_soh_and_a_capped_fixed_output_are_warned_about(caplog):
    """soh_pct = 0.85 meant 85 % and left a pack of 16 Wh, emptied by its own standby; a fixed output above the
    output limit was capped without a word."""
    with caplog.at_level(logging.WARNING, logger="socbal"):
        scenario_from_dict(
            {
                "device": {"mode": "fixed-output", "fixed_output_w": 5000, "ac_output_limit_w": 2400},
                "packs": [{"id": "p1", "soh_pct": 0.85}],
            }
        )
    assert [r.getMessage() for r in caplog.records] == [
        "packs[0].soh_pct: 0.85 %: is this a fraction? then give 85 (percent)",
        "device.fixed_output_w: 5000 W is above ac_output_limit_w (2400 W): the output is capped at 2400 W",
    ]


def test_plausible_values_are_not_warned_about(caplog):
    with caplog.at_level(logging.WARNING, logger="socbal"):
        scenario_from_dict({"device": {"mode": "fixed-output", "fixed_output_w": 800}, "packs": [{"id": "p1", "soh_pct": 85}]})
    assert caplog.records == []


def test_power_limits_that_look_like_kw_are_warned_about(caplog):
    with caplog.at_level(logging.WARNING, logger="socbal"):
        scenario_from_dict({"main": {"id": "main", "max_discharge_w": 1.2}, "device": {"ac_output_limit_w": 0.8}})
    assert [r.getMessage() for r in caplog.records] == [
        "main.max_discharge_w: 1.2 W: is this kW? then give 1200",
        "device.ac_output_limit_w: 0.8 W: is this kW? then give 800",
    ]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="socbal"):  # 0 switches a path off: no question
        scenario_from_dict({"main": {"id": "main", "max_charge_w": 0}, "device": {"ac_charge_limit_w": 0}})
    assert caplog.records == []
