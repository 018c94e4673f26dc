"""The one battery power profile that all three topologies run through.

"The same profile" means the device-level battery demand of the scenario, step
by step: what the device asks of its batteries to cover the household load with
the PV it has, exactly as the DC-DC simulator's dispatch computes it
(:func:`socbal.device.dispatch.device_request`), but without AC backup charging
from the grid (a series string or a parallel bank here has no charger):

    demand_w = min(load_w, ac_output_limit_w) - min(pv_w, pv_input_limit_w)

in follow-load mode (``fixed_output_w`` replaces the load in fixed-output mode).
Positive: the batteries discharge; negative: the PV surplus charges them. W at
the battery bus (the terminals of a string or bank, the DC-DC modules' bus side),
one value per step of ``scenario.run.step_s``, profiles held per interval as in
the simulator (:func:`socbal.profiles.holding.held_profile`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from socbal.device.dispatch import MODE_CODES, device_request
from socbal.profiles.grid import grid_profile
from socbal.profiles.holding import held_profile, values_at
from socbal.scenario import Scenario

#: One line for summaries and reports: what "the same profile" is.
DEMAND_DEFINITION = (
    "Same profile: the battery demand min(load, ac_output_limit_w) - min(pv, pv_input_limit_w) per step "
    "(+ discharge, - PV surplus charging), as the device's dispatch computes it; no AC backup charging in any column."
)


def battery_demand_w(scenario: Scenario) -> np.ndarray:
    """The battery demand per step, W (+ discharge, - charge); see the module docstring."""
    run = scenario.run
    start = pd.Timestamp(run.start)
    horizon_s = run.n_steps * run.step_s
    time_s = np.arange(run.n_steps) * run.step_s
    load_w = values_at(*held_profile(scenario.load.series(start, horizon_s), start, horizon_s, "load", run.step_s), time_s)
    pv_w = values_at(*held_profile(scenario.pv.series(start, horizon_s), start, horizon_s, "pv", run.step_s), time_s)
    grid_on = values_at(*grid_profile(scenario.grid, start, horizon_s, run.step_s), time_s) > 0.5
    d = scenario.device
    demand = np.empty(run.n_steps)
    for k in range(run.n_steps):
        # Total SOC 100 % and no AC charging limit: never backup charging, only load and PV.
        demand[k] = device_request(
            float(load_w[k]),
            float(pv_w[k]),
            bool(grid_on[k]),
            100.0,
            1.0,
            MODE_CODES[d.mode],
            d.fixed_output_w,
            d.ac_output_limit_w,
            d.pv_input_limit_w,
            0.0,
            scenario.settings.backup_reserve_pct,
            0.0,
            False,
            run.step_s,
        )[0]
    return demand
