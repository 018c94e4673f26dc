"""The home loop's setup: derived parameter columns follow the capacities a caller set, whoever the caller is."""

import numpy as np

from socbal.device.params import PARAM_BELIEVED_PER_TRUE, PARAM_CAPACITY_WH, PARAM_EST_SOC_PER_WH, PARAM_SOC_PER_WH
from socbal.home.engine import home_inputs, prepare_home

from .test_home_sim import load


def test_prepare_refills_the_reciprocals_of_capacities_changed_after_the_inputs_were_built():
    inputs = home_inputs(load("home_two_units"))
    params = inputs.model.params
    params[:, PARAM_CAPACITY_WH] *= 0.5  # as a fleet draw does, without refreshing the derived columns
    prepare_home(inputs)
    assert np.allclose(params[:, PARAM_SOC_PER_WH], 100.0 / params[:, PARAM_CAPACITY_WH])
    assert np.allclose(params[:, PARAM_EST_SOC_PER_WH] * params[:, PARAM_BELIEVED_PER_TRUE], params[:, PARAM_SOC_PER_WH])
