import numpy as np
import pandas as pd
import pytest

from socbal.errors import InputError
from socbal.profiles.load import standard_load_w, stochastic_load_w


@pytest.mark.parametrize("profile", ["h0", "h25"])
@pytest.mark.parametrize(("year", "tz"), [(2023, None), (2023, "Europe/Berlin"), (2024, None)])
def test_a_calendar_year_holds_the_annual_consumption(profile, year, tz):
    start = pd.Timestamp(f"{year}-01-01", tz=tz)
    horizon_s = (pd.Timestamp(f"{year + 1}-01-01", tz=tz) - start).total_seconds()
    load_w = standard_load_w(3500.0, start, horizon_s, profile)
    assert load_w.index.freq == pd.Timedelta(minutes=15)
    assert load_w.sum() * 0.25 / 1000.0 == pytest.approx(3500.0, rel=1e-9)
    assert (load_w > 0).all()


def test_h0_shape_is_a_household():
    load_w = standard_load_w(3500.0, pd.Timestamp("2023-01-01"), 365 * 86400)
    assert 100 < load_w.min() < load_w.mean() < load_w.max() < 1500
    by_hour = load_w.groupby(load_w.index.hour).mean()
    assert by_hour[3] < by_hour[12] and by_hour[3] < by_hour[19]
    assert load_w["2023-01"].mean() > load_w["2023-07"].mean()


def test_stochastic_keeps_energy_and_adds_peaks():
    start, horizon_s = pd.Timestamp("2023-03-01"), 14 * 86400
    smooth_w = standard_load_w(3500.0, start, horizon_s)
    noisy_w = stochastic_load_w(3500.0, start, horizon_s, step_s=60, seed=3)
    assert noisy_w.index.freq == pd.Timedelta(minutes=1) and len(noisy_w) == 14 * 1440
    assert noisy_w.sum() / 60 == pytest.approx(smooth_w.sum() / 4, rel=1e-9)
    assert noisy_w.max() > 1000.0 > smooth_w.max()
    assert (noisy_w >= 0).all()
    again = stochastic_load_w(3500.0, start, horizon_s, step_s=60, seed=3)
    other = stochastic_load_w(3500.0, start, horizon_s, step_s=60, seed=4)
    assert np.array_equal(noisy_w, again) and not np.array_equal(noisy_w, other)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"annual_kwh": -1.0}, "annual_kwh"), ({"profile": "g0"}, "profile"), ({"horizon_s": 0.0}, "horizon_s")],
)
def test_bad_arguments_name_the_field(kwargs, field):
    args = {"annual_kwh": 3500.0, "start": pd.Timestamp("2023-01-01"), "horizon_s": 86400.0} | kwargs
    with pytest.raises(InputError, match=field):
        standard_load_w(**args)


def test_stochastic_step_must_divide_a_quarter_hour():
    with pytest.raises(InputError, match="step_s: value 420"):
        stochastic_load_w(3500.0, pd.Timestamp("2023-01-01"), 86400, step_s=420)
