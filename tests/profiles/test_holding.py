"""Profiles held per interval: a profile finer than the run is averaged over each run step, energy kept."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from socbal.profiles.holding import held_profile, interval_means


@given(
    values=st.lists(st.floats(0.0, 1e4), min_size=1, max_size=200),
    profile_step_s=st.sampled_from([1.0, 5.0, 60.0, 420.0]),
    factor=st.integers(1, 30),
)
def test_interval_means_keep_the_energy_of_a_held_profile(values, profile_step_s, factor):
    values = np.array(values)
    step_s = profile_step_s * factor
    means = interval_means(values, profile_step_s, step_s)
    span_s = len(means) * step_s  # whole intervals: the last value held past the profile's end
    energy = values.sum() * profile_step_s + (span_s - len(values) * profile_step_s) * values[-1]
    assert means.sum() * step_s == pytest.approx(energy, rel=1e-9, abs=1e-6)
    assert np.all(means >= values.min() - 1e-9) and np.all(means <= values.max() + 1e-9)


def test_a_step_that_is_not_a_whole_number_of_profile_steps_splits_the_interval():
    # 7-minute values 0, 700, 0 ... at 10-minute steps: the first step holds 3 minutes of 700 W.
    means = interval_means(np.array([0.0, 700.0, 0.0]), 420.0, 600.0)
    np.testing.assert_allclose(means[:2], [700.0 * 180 / 600, 700.0 * 240 / 600])


def test_held_profile_averages_a_finer_profile_and_holds_a_coarser_one():
    start = pd.Timestamp("2026-06-01", tz="UTC")
    seconds = pd.Series(np.where(np.arange(7200) % 600 < 60, 3000.0, 100.0), index=pd.date_range(start, periods=7200, freq="s"))
    values, step_s = held_profile(seconds, start, 7200.0, "load", 3600.0)
    assert step_s == 3600.0 and values[0] == pytest.approx(390.0)  # not the 3000 W of the step's first second
    quarter = pd.Series([100.0, 200.0], index=pd.date_range(start, periods=2, freq="15min"))
    values, step_s = held_profile(quarter, start, 1800.0, "load", 1.0)
    assert step_s == 900.0 and list(values[:2]) == [100.0, 200.0]
