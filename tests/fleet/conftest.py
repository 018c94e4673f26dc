"""A small fleet scenario shared by the fleet tests: 3 packs, 30 minutes at 10 s."""

from pathlib import Path

import pytest

from socbal.scenario import load_scenario, scenario_from_dict

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def small_scenario(**fleet) -> object:
    """The fleet example cut down to 3 packs and 30 minutes at 10 s, with ``fleet`` overriding [fleet]."""
    raw = load_scenario(EXAMPLES / "fleet.toml").model_dump(mode="json", exclude_none=True)
    raw["packs"] = raw["packs"][:2]
    raw["run"] = {"step_s": 10, "horizon_h": 0.5, "start": raw["run"]["start"]}
    raw["fleet"] = {**raw["fleet"], **fleet}
    return scenario_from_dict(raw)


@pytest.fixture
def scenario():
    return small_scenario()
