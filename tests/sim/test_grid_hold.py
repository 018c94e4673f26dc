"""The grid profile held at a coarser step reads the same at every step of the run as at the run's own step."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from socbal.profiles.grid import grid_profile
from socbal.profiles.holding import values_at
from socbal.scenario import scenario_from_dict
from socbal.sim.engine import grid_hold_step_s


@settings(max_examples=40, deadline=None)
@given(
    step_s=st.sampled_from([1, 2, 30, 60, 1.5]),
    n_steps=st.integers(1, 3000),
    cuts=st.lists(st.integers(0, 3500), max_size=6, unique=True),
)
def test_grid_held_at_the_coarse_step_reads_the_same_at_every_step(step_s, n_steps, cuts):
    cuts = sorted(cuts)[: len(cuts) // 2 * 2]
    outages_h = [[a * step_s / 3600.0, b * step_s / 3600.0] for a, b in zip(cuts[::2], cuts[1::2])]
    spec = scenario_from_dict(
        {
            "run": {"step_s": step_s, "horizon_h": n_steps * step_s / 3600.0},
            "main": {"id": "main"},
            "grid": {"outages_h": outages_h},
        }
    )
    start = pd.Timestamp(spec.run.start)
    horizon_s = spec.run.n_steps * spec.run.step_s
    fine, fine_step_s = grid_profile(spec.grid, start, horizon_s, spec.run.step_s)
    coarse, coarse_step_s = grid_profile(spec.grid, start, horizon_s, grid_hold_step_s(spec))
    times_s = np.arange(spec.run.n_steps) * spec.run.step_s  # as the loop computes them
    assert np.array_equal(values_at(coarse, coarse_step_s, times_s), values_at(fine, fine_step_s, times_s))
    if step_s == round(step_s) and not outages_h:
        assert coarse.shape[0] <= 2  # no outage: one value (and the end's)
