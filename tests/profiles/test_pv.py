from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from socbal.errors import InputError
from socbal.profiles.pv import BUNDLED_WEATHER, PvArray, Site, pv_clearsky_w, pv_tmy_w, read_tmy

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


KASSEL = Path(__file__).resolve().parents[2] / "examples" / "weather" / "kassel_clearsky_pvgis.json.gz"


def write_epw(path, data, site):
    """A minimal EPW file (UTC, hour-ending) holding ``data``'s hourly ghi, dni, dhi, temp_air and wind_speed."""
    header = [
        f"LOCATION,Kassel,HE,DEU,synthetic,000000,{site.latitude_deg},{site.longitude_deg},0.0,{site.altitude_m}",
        "DESIGN CONDITIONS,0",
        "TYPICAL/EXTREME PERIODS,0",
        "GROUND TEMPERATURES,0",
        "HOLIDAYS/DAYLIGHT SAVINGS,No,0,0,0",
        "COMMENTS 1,written by a socbal test",
        "COMMENTS 2,",
        "DATA PERIODS,1,1,Data,Sunday, 1/ 1,12/31",
    ]
    rows = []
    for t, r in data.iterrows():
        end = t + pd.Timedelta(hours=1)
        hour = 24 if end.hour == 0 else end.hour
        day = t if end.hour == 0 else end
        fields = [day.year, day.month, day.day, hour, 0, "?", r.temp_air, 0, 50, 101325, 0, 0, 300, r.ghi, r.dni, r.dhi]
        fields += [0, 0, 0, 0, 0, r.wind_speed, 0, 0, 9999, 99999, 9, 999999999, 0, 0.1, 0, 88, 0.2, 0, 0]
        rows.append(",".join(str(f) for f in fields))
    path.write_text("\n".join(header + rows) + "\n")


def test_pvgis_json_and_epw_weather_give_the_same_pv(tmp_path):
    data, site = read_tmy(KASSEL, 2023)
    assert (site.latitude_deg, site.longitude_deg) == (51.32, 9.5) and len(data) == 8760
    assert data["ghi"].sum() / 1000 == pytest.approx(1522.0, rel=0.01)  # kWh/m2 of the clear-sky year
    epw = tmp_path / "kassel.epw"
    write_epw(epw, data, site)
    start = pd.Timestamp("2023-06-01", tz="Europe/Berlin")
    from_json = pv_tmy_w(PvArray(kwp=1.0), start, 7 * 86400, weather=KASSEL)
    from_epw = pv_tmy_w(PvArray(kwp=1.0), start, 7 * 86400, weather=epw)
    assert from_json.index[0] == start and from_json.idxmax().hour in (12, 13, 14)  # local noon, summer time
    assert from_epw.sum() == pytest.approx(from_json.sum(), rel=1e-6)
    assert from_json.sum() / 1000 == pytest.approx(7 * 6.6, rel=0.1)  # about 6.6 kWh per kWp on a clear June day


def test_unreadable_weather_file_names_the_field(tmp_path):
    bad = tmp_path / "bad.epw"
    bad.write_text("not an epw\n")
    with pytest.raises(InputError, match="pv.weather: file .*bad.epw' is not a readable epw weather file"):
        read_tmy(bad, 2023)


def _kassel_with(tmp_path, blank_hours: slice, field: str = "G(h)"):
    """The Kassel PVGIS JSON with ``field`` blanked (null) over ``blank_hours`` of its year."""
    import gzip
    import json

    raw = json.loads(gzip.open(KASSEL, "rt").read())
    for row in raw["outputs"]["tmy_hourly"][blank_hours]:
        row[field] = None
    path = tmp_path / "blanked.json"
    path.write_text(json.dumps(raw))
    return path


@pytest.mark.parametrize("field, column", [("G(h)", "ghi"), ("T2m", "temp_air")])
def test_weather_missing_for_longer_than_a_day_is_refused_naming_the_column(tmp_path, field, column):
    # A file without GHI gave 0 W of PV all year without a word (NaN irradiance read as 0).
    with pytest.raises(InputError, match=rf"pv.weather: file .*blanked.json': 8760 of 8760 hours of {column} are missing"):
        read_tmy(_kassel_with(tmp_path, slice(None), field), 2023)


def test_a_missing_hour_of_weather_is_the_same_hour_a_day_next_to_it(tmp_path):
    data, _ = read_tmy(_kassel_with(tmp_path, slice(12, 13)), 2023)  # noon of 1 January
    clear, _ = read_tmy(KASSEL, 2023)
    assert not data.isna().any().any()
    assert data["ghi"].iloc[12] == clear["ghi"].iloc[12 + 24]  # the next day's noon (no day before in the file)
