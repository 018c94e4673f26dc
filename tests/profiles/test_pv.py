import numpy as np
import pandas as pd
import pytest

from socbal.errors import InputError
from socbal.profiles.pv import BUNDLED_WEATHER, PvArray, Site, pv_clearsky_w, pv_tmy_w

YEAR_S = 365 * 86400


@pytest.fixture(scope="module")
def greensboro_ac():
    return pv_tmy_w(PvArray(kwp=1.0), pd.Timestamp("2023-01-01"), YEAR_S, "greensboro")


def test_tmy_year_is_hourly_regular_and_non_negative(greensboro_ac):
    assert len(greensboro_ac) == 8760
    assert greensboro_ac.index.freq == pd.Timedelta(hours=1)
    assert (greensboro_ac >= 0).all()
    assert greensboro_ac.between_time("00:00", "03:00").max() == 0.0


@pytest.mark.parametrize(("weather", "low", "high"), [("greensboro", 1200, 1600), ("sand_point", 650, 1050)])
def test_yield_per_kwp_is_plausible_for_the_site(weather, low, high):
    power_w = pv_tmy_w(PvArray(kwp=2.0), pd.Timestamp("2023-01-01"), YEAR_S, weather)
    kwh_per_kwp = power_w.sum() / 1000.0 / 2.0
    assert low < kwh_per_kwp < high


def test_inverter_limit_caps_ac_and_dc_exceeds_ac(greensboro_ac):
    start = pd.Timestamp("2023-01-01")
    capped = pv_tmy_w(PvArray(kwp=1.0, inverter_ac_w=400.0), start, YEAR_S)
    dc = pv_tmy_w(PvArray(kwp=1.0), start, YEAR_S, output="dc")
    assert capped.max() <= 400.0 + 1e-9
    assert capped.sum() < greensboro_ac.sum() < dc.sum()


def test_window_follows_start_time_zone_and_crosses_years():
    start = pd.Timestamp("2023-12-31 10:30", tz="Europe/Berlin")
    power_w = pv_tmy_w(PvArray(kwp=1.0), start, 2 * 86400)
    assert str(power_w.index.tz) == "Europe/Berlin"
    assert power_w.index[0] == pd.Timestamp("2023-12-31 10:00", tz="Europe/Berlin")
    assert len(power_w) == 49  # the intervals holding 10:30 on both ends
    assert power_w.index.freq == pd.Timedelta(hours=1)


def test_clearsky_midsummer_day_in_munich():
    site = Site(48.14, 11.58, 520.0, "Europe/Berlin")
    power_w = pv_clearsky_w(PvArray(kwp=1.0), site, pd.Timestamp("2023-06-21", tz="Europe/Berlin"), 86400, step_s=300)
    assert len(power_w) == 288 and power_w.index.freq == pd.Timedelta(minutes=5)
    assert 5.0 < power_w.sum() * 300 / 3.6e6 < 8.0
    assert 12 <= power_w.idxmax().hour <= 14


def test_clearsky_naive_start_in_a_dst_zone_is_refused():
    site = Site(48.14, 11.58, 520.0, "Europe/Berlin")
    with pytest.raises(InputError, match="daylight saving"):
        pv_clearsky_w(PvArray(kwp=1.0), site, pd.Timestamp("2023-03-25"), 2 * 86400)


def test_unknown_weather_names_value_and_allowed():
    with pytest.raises(InputError) as err:
        pv_tmy_w(PvArray(kwp=1.0), pd.Timestamp("2023-01-01"), 86400, weather="berlin")
    message = str(err.value)
    assert "'berlin'" in message and all(name in message for name in BUNDLED_WEATHER)


def test_leap_year_is_complete():
    power_w = pv_tmy_w(PvArray(kwp=1.0), pd.Timestamp("2024-02-28"), 3 * 86400)
    assert len(power_w) == 72 and not np.isnan(power_w).any()
