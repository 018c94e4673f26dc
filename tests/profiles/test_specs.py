import pandas as pd
import pytest
from pydantic import TypeAdapter, ValidationError

from socbal.errors import InputError
from socbal.profiles.specs import LoadSpec, PvSpec

PV = TypeAdapter(PvSpec)
LOAD = TypeAdapter(LoadSpec)
START = pd.Timestamp("2023-06-01")


@pytest.mark.parametrize(
    ("section", "step"),
    [
        ({"kind": "pvlib", "kwp": 2.0, "tilt_deg": 30, "azimuth_deg": 180, "inverter_ac_w": 800}, "1h"),
        ({"kind": "clearsky", "kwp": 2.0, "latitude_deg": 48.1, "longitude_deg": 11.6, "step_s": 600}, "10min"),
    ],
)
def test_pv_sections_give_w_series_at_their_own_step(section, step):
    power_w = PV.validate_python(section).series(START, 2 * 86400)
    assert power_w.index.freq == pd.Timedelta(step)
    assert power_w.index[0] == START and power_w.index[-1] < START + pd.Timedelta(days=2)
    assert (power_w >= 0).all() and power_w.max() <= 2000.0


@pytest.mark.parametrize(
    ("section", "step"),
    [
        ({"kind": "bdew-h0", "annual_kwh": 3500}, "15min"),
        ({"kind": "bdew-h25", "annual_kwh": 3500}, "15min"),
        ({"kind": "stochastic", "annual_kwh": 3500, "seed": 7, "step_s": 300}, "5min"),
    ],
)
def test_load_sections_give_w_series_at_their_own_step(section, step):
    load_w = LOAD.validate_python(section).series(START, 86400)
    assert load_w.index.freq == pd.Timedelta(step)
    assert len(load_w) == 86400 / pd.Timedelta(step).total_seconds()
    assert 3.0 < load_w.mean() * 24 / 1000 < 15.0  # kWh in a June day for 3500 kWh/a


def test_file_sections_read_the_window_and_refuse_outside_it(tmp_path):
    path = tmp_path / "meter.csv"
    times = pd.date_range("2023-06-01", periods=96, freq="15min")
    pd.DataFrame({"time": times, "e_wh": 100.0}).to_csv(path, index=False)
    spec = LOAD.validate_python({"kind": "file", "path": str(path), "column": "e_wh", "unit": "Wh"})
    load_w = spec.series(pd.Timestamp("2023-06-01 06:00"), 3600)
    assert list(load_w) == [400.0] * 4 and load_w.index.tz is None
    with pytest.raises(InputError, match="the file covers 2023-06-01 00:00:00\\+00:00 to 2023-06-02"):
        spec.series(pd.Timestamp("2023-06-01 12:00"), 86400)
    pv = PV.validate_python({"kind": "file", "path": str(path), "column": "e_wh", "unit": "Wh", "step_s": 3600})
    assert pv.series(pd.Timestamp("2023-06-01", tz="UTC"), 7200).index.freq == pd.Timedelta(hours=1)


@pytest.mark.parametrize(
    "section",
    [{"kind": "pvlib", "kwp": -1}, {"kind": "pvlib", "kwp": 1, "tilt": 30}, {"kind": "sun", "kwp": 1}],
)
def test_bad_sections_are_refused(section):
    with pytest.raises(ValidationError):
        PV.validate_python(section)


def test_unknown_time_zone_is_refused():
    with pytest.raises(ValidationError, match="IANA time zone"):
        PV.validate_python({"kind": "clearsky", "kwp": 1, "latitude_deg": 0, "longitude_deg": 0, "tz": "CEST"})
