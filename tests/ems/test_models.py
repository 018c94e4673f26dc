"""The pack-id rule (unique ids, a complete priority order) shared by the allocate input, the scenario and the runtime config."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from socbal.ems.models import AllocateInput, Settings, check_pack_ids
from socbal.errors import describe_validation_error

PACK = {"soc_pct": 50, "capacity_wh": 1000, "max_discharge_w": 800, "max_charge_w": 800}


def test_unique_ids_and_a_full_priority_order_have_no_problem():
    assert check_pack_ids(["main", "p1"], Settings(priority=["p1", "main"])) == []


def test_each_repeat_names_its_field_and_the_first_holder():
    problems = check_pack_ids(["a", "b", "a", "b", "a"], Settings())
    assert problems == [
        "packs[2].id: value 'a' is not allowed: pack ids must be unique, packs[0].id has it",
        "packs[3].id: value 'b' is not allowed: pack ids must be unique, packs[1].id has it",
        "packs[4].id: value 'a' is not allowed: pack ids must be unique, packs[0].id has it",
    ]


def test_fields_can_be_named_by_the_caller():
    assert check_pack_ids(["m", "m"], Settings(), ["main.id", "packs[0].id"]) == [
        "packs[0].id: value 'm' is not allowed: pack ids must be unique, main.id has it"
    ]


@pytest.mark.parametrize("priority", [["main"], ["main", "p1", "p1"], ["main", "p2"]])
def test_priority_must_name_every_pack_once(priority):
    (problem,) = check_pack_ids(["main", "p1"], Settings(priority=priority))
    assert problem.startswith(f"settings.priority: value {priority!r} is not allowed: must list every pack id once")


@given(st.lists(st.sampled_from("abcd"), min_size=1, max_size=8))
def test_one_problem_per_repeat(ids):
    assert len(check_pack_ids(ids, Settings())) == len(ids) - len(set(ids))


def test_allocate_input_reports_the_field_not_the_whole_input():
    raw = {"packs": [{"id": "x", **PACK}, {"id": "x", **PACK}], "request": {"discharge_w": 100}}
    with pytest.raises(ValidationError) as err:
        AllocateInput.model_validate(raw)
    expected = "packs[1].id: value 'x' is not allowed: pack ids must be unique, packs[0].id has it"
    assert describe_validation_error(err.value) == expected
