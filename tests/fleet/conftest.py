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


#: A [fleet] section with every spread off: each device is the scenario's own device.
NO_SPREAD = dict(
    capacity_spread_pct=0,
    resistance_spread_pct=0,
    old_pack_share=0,
    new_soh_pct=None,
    sensor_offset_std_w=0,
    sensor_gain_error_std=0,
    soc_estimate_error_std_pct=0,
    initial_soc_pct=None,
    load_scale_sigma=0,
)


@pytest.fixture
def scenario():
    return small_scenario()
