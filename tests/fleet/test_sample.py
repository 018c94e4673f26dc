"""Drawing a fleet: reproducible from the seed, independent of chunking, no spread = the scenario's device."""

import numpy as np
import pytest

from socbal.device import params as kernel
from socbal.errors import InputError
from socbal.fleet.runner import prepare_fleet
from socbal.scenario import scenario_from_dict

from .conftest import NO_SPREAD, small_scenario


def test_same_seed_same_devices_other_seed_other_devices(scenario):
    _, a, _, _ = prepare_fleet(scenario, devices=50, seed=7)
    _, b, _, _ = prepare_fleet(scenario, devices=50, seed=7)
    _, c, _, _ = prepare_fleet(scenario, devices=50, seed=8)
    assert np.array_equal(a.params, b.params) and np.array_equal(a.soc_est0_pct, b.soc_est0_pct)
    assert not np.array_equal(a.params, c.params)


def test_draws_follow_the_spec(scenario):
    base, draw, _, _ = prepare_fleet(scenario, devices=4000, seed=1)
    spec = scenario.fleet
    old = draw.soh_pct < spec.new_soh_pct[0]
    assert abs(old.mean() - spec.old_pack_share) < 0.03
    assert draw.soh_pct.min() >= spec.old_soh_pct[0] and draw.soh_pct.max() <= spec.new_soh_pct[1]
    soc = draw.soc_true0_pct
    assert soc.min() >= spec.initial_soc_pct[0] and soc.max() <= spec.initial_soc_pct[1]
    factor = draw.params[:, :, kernel.PARAM_RESISTANCE_OHM] / base.model.params[:, kernel.PARAM_RESISTANCE_OHM]
    assert abs(factor.std() - spec.resistance_spread_pct / 100.0) < 0.01
    assert abs(np.median(draw.load_scale) - 1.0) < 0.05


def test_no_spread_repeats_the_scenario_device():
    scenario = small_scenario(**NO_SPREAD)
    base, draw, _, _ = prepare_fleet(scenario, devices=3, seed=0)
    for d in range(3):
        assert np.array_equal(draw.params[d], base.model.params)
        assert np.array_equal(draw.soc_true0_pct[d], base.soc_true0_pct)
        assert np.array_equal(draw.soc_est0_pct[d], base.soc_est0_pct)
    assert np.array_equal(draw.load_scale, np.ones(3))


@pytest.mark.parametrize(
    "fleet, field",
    [
        ({"old_soh_pct": [90, 80]}, "fleet.old_soh_pct"),
        ({"initial_soc_pct": [10, 120]}, "fleet.initial_soc_pct"),
        ({"capacity_spread_pct": -1}, "fleet.capacity_spread_pct"),
        ({"devcies": 3}, "fleet.devcies"),
    ],
)
def test_bad_fleet_section_names_the_field(fleet, field):
    with pytest.raises(InputError, match=field.replace(".", r"\.")):
        scenario_from_dict({"fleet": fleet})


def test_bad_fleet_size_or_seed(scenario):
    with pytest.raises(InputError, match="devices"):
        prepare_fleet(scenario, devices=0)
    with pytest.raises(InputError, match="seed"):
        prepare_fleet(scenario, seed=-1)


def test_every_drawn_device_has_the_reciprocals_of_its_own_capacities(scenario):
    """The loop multiplies by these columns instead of dividing by the capacities: a fleet that draws other
    capacities must recompute them, or every SOC of the device would be computed from the scenario's packs."""
    base, draw, _, _ = prepare_fleet(scenario, devices=20, seed=3)
    p = draw.params
    assert not np.array_equal(p[:, :, kernel.PARAM_CAPACITY_WH], np.broadcast_to(base.model.params[:, 0], p.shape[:2]))
    np.testing.assert_allclose(p[:, :, kernel.PARAM_SOC_PER_WH], 100.0 / p[:, :, kernel.PARAM_CAPACITY_WH], rtol=1e-15)
    believed = p[:, :, kernel.PARAM_BELIEVED_CAPACITY_WH]
    np.testing.assert_allclose(p[:, :, kernel.PARAM_EST_SOC_PER_WH], 100.0 / believed, rtol=1e-15)
    np.testing.assert_allclose(p[:, :, kernel.PARAM_BELIEVED_PER_TRUE], believed / p[:, :, kernel.PARAM_CAPACITY_WH], rtol=1e-15)
