"""PV power profiles from pvlib: a fixed-tilt array on TMY weather or clear sky.

Every function returns a ``pandas.Series`` of power in W (generation is
positive) on a regular ``DatetimeIndex``. Each value is the mean power over the
interval that *starts* at its timestamp, which is how the simulator holds it.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from socbal.errors import InputError

#: Weather files that ship inside pvlib (TMY3, hourly): name -> file in pvlib/data.
BUNDLED_WEATHER = {
    "greensboro": "723170TYA.CSV",  # Greensboro NC, USA, 36.1 N
    "sand_point": "703165TY.csv",  # Sand Point AK, USA, 55.3 N
}

#: Mounting of pvlib's SAPM cell-temperature model: open rack, glass/polymer module.
_SAPM_MOUNT = "open_rack_glass_polymer"


@dataclass(frozen=True)
class Site:
    """Where the array stands: degrees north/east, metres above sea level, time zone."""

    latitude_deg: float
    longitude_deg: float
    altitude_m: float = 0.0
    tz: str = "UTC"
    name: str = ""


@dataclass(frozen=True)
class PvArray:
    """A fixed PV array.

    ``kwp`` is DC peak power at STC; ``azimuth_deg`` is pvlib's (180 = south);
    ``inverter_ac_w`` caps AC power (None: no cap beyond the DC rating);
    ``losses_pct`` lumps wiring, soiling, mismatch and ageing (PVWatts' 14 %);
    ``gamma_pct_per_c`` is the power temperature coefficient.
    """

    kwp: float
    tilt_deg: float = 30.0
    azimuth_deg: float = 180.0
    inverter_ac_w: float | None = None
    losses_pct: float = 14.0
    gamma_pct_per_c: float = -0.37
    inverter_efficiency: float = 0.96


def weather_path(weather: str | Path) -> Path:
    """Path of a bundled weather file by name (see ``BUNDLED_WEATHER``) or of a weather file (TMY3, EPW, PVGIS)."""
    import pvlib  # heavy (scipy): imported only when PV is modelled

    if str(weather) in BUNDLED_WEATHER:
        return Path(pvlib.__file__).parent / "data" / BUNDLED_WEATHER[str(weather)]
    path = Path(weather)
    if not path.is_file():
        allowed = ", ".join(sorted(BUNDLED_WEATHER))
        raise InputError(
            f"pv.weather: value {str(weather)!r} is not allowed: one of {allowed} or a weather file path "
            "(TMY3 .csv, EPW .epw, PVGIS TMY .json/.csv, also .json.gz)"
        )
    return path


def weather_kind(path: Path) -> Literal["tmy3", "epw", "pvgis-json", "pvgis-csv"]:
    """Which reader a weather file needs, from its name and, for .csv, its first line (PVGIS starts 'Latitude')."""
    name = path.name.lower()
    if name.endswith(".epw"):
        return "epw"
    if name.endswith((".json", ".json.gz")):
        return "pvgis-json"
    with open(path, "rb") as f:
        first = f.readline()
    return "pvgis-csv" if first.startswith(b"Latitude") else "tmy3"


def read_tmy(weather: str | Path, year: int) -> tuple[pd.DataFrame, Site]:
    """Hourly typical-year weather mapped onto ``year``, labelled by interval start, through pvlib's readers.

    TMY3 (``read_tmy3``; hour-ending stamps move back one hour), EPW
    (``read_epw``, which already labels each hour by its start) and PVGIS TMY JSON/CSV (``read_pvgis_tmy``;
    UTC stamps at or just after the hour's start, floored to it). Returns
    columns ghi, dni, dhi (W/m2), temp_air (C), wind_speed (m/s) and the file's
    site; in a leap year 29 February repeats the 28th.
    """
    import pvlib  # heavy (scipy): imported only when PV is modelled

    path = weather_path(weather)
    kind = weather_kind(path)
    try:
        if kind == "tmy3":
            data, meta = pvlib.iotools.read_tmy3(str(path), coerce_year=year, map_variables=True)
            data.index = data.index - pd.Timedelta(hours=1)
            site = Site(float(meta["latitude"]), float(meta["longitude"]), float(meta["altitude"]), "", meta.get("Name", ""))
        elif kind == "epw":
            data, meta = pvlib.iotools.read_epw(str(path), coerce_year=year)  # pvlib labels EPW hours by their start
            site = Site(float(meta["latitude"]), float(meta["longitude"]), float(meta["altitude"]), "", meta.get("city", ""))
        else:
            data, meta = _read_pvgis(path, kind)
            data.index = data.index.floor("h").map(lambda t: t.replace(year=year))
            where = meta["inputs"]["location"] if "location" in meta["inputs"] else meta["inputs"]
            site = Site(float(where["latitude"]), float(where["longitude"]), float(where["elevation"]), "", "PVGIS TMY")
        data = data[["ghi", "dni", "dhi", "temp_air", "wind_speed"]].astype(float)
    except InputError:
        raise
    except Exception as err:  # pvlib raises many types on a malformed file
        raise InputError(f"pv.weather: file {str(path)!r} is not a readable {kind} weather file: {err}") from err
    tz = data.index.tz
    full = pd.date_range(f"{year}-01-01", f"{year + 1}-01-01", freq="h", inclusive="left", tz=tz)
    data = data[~data.index.duplicated()].reindex(full)
    data = data.fillna(data.shift(24)).fillna(data.shift(-24))  # a missing hour: the same hour a day before (or after)
    missing = data.isna().sum()
    if missing.any():  # pvlib would turn them into NaN (irradiance: 0 W) PV without a word
        column = str(missing.idxmax())
        first = data.index[data[column].isna()][0]
        raise InputError(
            f"pv.weather: file {str(path)!r}: {int(missing[column])} of {len(data)} hours of {column} are missing "
            f"(the first {first:%d %b %H:%M} {first.tz}) and neither the day before nor the day after has them; allowed: "
            "gaps up to a day (filled from the day next to them)"
        )
    site = Site(site.latitude_deg, site.longitude_deg, site.altitude_m, str(tz), str(site.name).strip('"'))
    return data, site


def _read_pvgis(path: Path, kind: str) -> tuple[pd.DataFrame, dict]:
    """``pvlib.iotools.read_pvgis_tmy`` on a file, or on the text inside a ``.gz`` file."""
    import pvlib  # heavy (scipy): imported only when PV is modelled

    fmt = "json" if kind == "pvgis-json" else "csv"
    if path.name.lower().endswith(".gz"):
        with gzip.open(path, "rt" if fmt == "json" else "rb") as f:
            return pvlib.iotools.read_pvgis_tmy(f, pvgis_format=fmt, map_variables=True)
    return pvlib.iotools.read_pvgis_tmy(str(path), pvgis_format=fmt, map_variables=True)


def pv_power_w(
    weather: pd.DataFrame,
    site: Site,
    array: PvArray,
    output: Literal["ac", "dc"] = "ac",
) -> pd.Series:
    """PV power in W from interval weather (ghi, dni, dhi in W/m2; temp_air in C; wind_speed in m/s).

    Sun position is taken at each interval's midpoint; transposition is
    Hay-Davies, cell temperature SAPM (open rack), DC power PVWatts, AC power
    the PVWatts inverter capped at ``array.inverter_ac_w``.
    """
    import pvlib  # heavy (scipy): imported only when PV is modelled

    sapm = pvlib.temperature.TEMPERATURE_MODEL_PARAMETERS["sapm"][_SAPM_MOUNT]
    index = pd.DatetimeIndex(weather.index)
    step = pd.Timedelta(index.freq) if index.freq is not None else index[1] - index[0]
    mid = index + step / 2
    location = pvlib.location.Location(site.latitude_deg, site.longitude_deg, altitude=site.altitude_m)
    sun = location.get_solarposition(mid)
    poa = pvlib.irradiance.get_total_irradiance(
        array.tilt_deg,
        array.azimuth_deg,
        sun["apparent_zenith"].to_numpy(),
        sun["azimuth"].to_numpy(),
        weather["dni"].to_numpy(),
        weather["ghi"].to_numpy(),
        weather["dhi"].to_numpy(),
        dni_extra=pvlib.irradiance.get_extra_radiation(mid).to_numpy(),
        model="haydavies",
    )
    poa_w_m2 = np.nan_to_num(np.asarray(poa["poa_global"], dtype=float)).clip(min=0.0)
    temp_cell_c = pvlib.temperature.sapm_cell(poa_w_m2, weather["temp_air"].to_numpy(), weather["wind_speed"].to_numpy(), **sapm)
    dc_w = pvlib.pvsystem.pvwatts_dc(poa_w_m2, temp_cell_c, array.kwp * 1000.0, array.gamma_pct_per_c / 100.0)
    dc_w = np.asarray(dc_w, dtype=float) * (1.0 - array.losses_pct / 100.0)
    if output == "dc":
        power_w = dc_w
    else:
        ac_limit_w = array.inverter_ac_w if array.inverter_ac_w is not None else array.kwp * 1000.0
        inverter_dc_w = ac_limit_w / array.inverter_efficiency
        power_w = np.asarray(pvlib.inverter.pvwatts(dc_w, inverter_dc_w, array.inverter_efficiency), dtype=float)
    return pd.Series(np.clip(power_w, 0.0, None), index=index, name=f"pv_{output}_w")


def _window(start: pd.Timestamp, horizon_s: float, step: pd.Timedelta, tz: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[first, end) in ``tz``: the interval holding ``start`` up to ``start + horizon_s``."""
    start = pd.Timestamp(start)
    start = start.tz_localize(tz) if start.tzinfo is None else start.tz_convert(tz)
    if horizon_s <= 0:
        raise InputError(f"horizon_s: value {horizon_s!r} is not allowed: must be > 0")
    return start.floor(step), start + pd.Timedelta(seconds=horizon_s)


def in_start_tz(series: pd.Series, start: pd.Timestamp, step: pd.Timedelta) -> pd.Series:
    """Give ``series`` back in the time zone of ``start``; a naive ``start`` gives naive local time."""
    start = pd.Timestamp(start)
    if start.tzinfo is None:
        index = series.index.tz_localize(None)
        if len(index) > 1 and not (np.diff(index.asi8) == np.diff(series.index.asi8)).all():
            raise InputError(
                f"start: value {str(start)!r} is not allowed: time zone {series.index.tz} has daylight saving "
                "time, give a start with a time zone"
            )
    else:
        index = series.index.tz_convert(start.tzinfo)
    series.index = pd.DatetimeIndex(index, freq=step)
    return series


def pv_tmy_w(
    array: PvArray,
    start: pd.Timestamp,
    horizon_s: float,
    weather: str | Path = "greensboro",
    output: Literal["ac", "dc"] = "ac",
) -> pd.Series:
    """Hourly PV power in W over ``[start, start + horizon_s)`` from a TMY file, repeated each year.

    A naive ``start`` is read in the weather file's local standard time.
    """
    _, site = read_tmy(weather, 2001)
    first, end = _window(start, horizon_s, pd.Timedelta(hours=1), site.tz)
    parts = []
    for year in range(first.year, end.year + 1):
        data, _ = read_tmy(weather, year)
        parts.append(pv_power_w(data, site, array, output))
    series = pd.concat(parts)
    series = series[(series.index >= first) & (series.index < end)]
    return in_start_tz(series, start, pd.Timedelta(hours=1))


def pv_clearsky_w(
    array: PvArray,
    site: Site,
    start: pd.Timestamp,
    horizon_s: float,
    step_s: float = 900.0,
    temp_air_c: float = 20.0,
    wind_speed_m_s: float = 1.0,
    output: Literal["ac", "dc"] = "ac",
) -> pd.Series:
    """PV power in W under clear sky (Ineichen, Linke turbidity from pvlib's data) at ``step_s``.

    A naive ``start`` is read in ``site.tz``.
    """
    import pvlib  # heavy (scipy): imported only when PV is modelled

    if step_s <= 0:
        raise InputError(f"step_s: value {step_s!r} is not allowed: must be > 0")
    step = pd.Timedelta(seconds=step_s)
    first, end = _window(start, horizon_s, step, site.tz)
    index = pd.date_range(first, end, freq=step, inclusive="left")
    location = pvlib.location.Location(site.latitude_deg, site.longitude_deg, altitude=site.altitude_m)
    sky = location.get_clearsky(index + step / 2)
    weather = pd.DataFrame(
        {
            "ghi": sky["ghi"].to_numpy(),
            "dni": sky["dni"].to_numpy(),
            "dhi": sky["dhi"].to_numpy(),
            "temp_air": temp_air_c,
            "wind_speed": wind_speed_m_s,
        },
        index=index,
    )
    return in_start_tz(pv_power_w(weather, site, array, output), start, step)
