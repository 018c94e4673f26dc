"""Write ``kassel_clearsky_pvgis.json.gz``: a synthetic, clear-sky weather year for Kassel, Germany, in PVGIS TMY JSON.

Not measured weather: every day is cloudless, so PV from it is an upper bound
(about 1.5 times the irradiation of a real year there: 1520 against about 1050 kWh/m2). Irradiance is pvlib's Ineichen
clear-sky model with pvlib's monthly Linke turbidity for the site, averaged
over each hour (four quarter-hour points); the air temperature is a smooth
annual cycle (1 C mid-January to 18 C mid-July, plus 4 C in the afternoon),
wind a constant 2 m/s. Rerun: ``python examples/weather/make_kassel_clearsky.py``.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pvlib

LATITUDE, LONGITUDE, ELEVATION_M = 51.32, 9.50, 160.0
YEAR = 2019  # any non-leap year: PVGIS TMY years carry no 29 February


def main() -> None:
    quarter = pd.date_range(f"{YEAR}-01-01", f"{YEAR + 1}-01-01", freq="15min", inclusive="left", tz="UTC") + pd.Timedelta(
        "7.5min"
    )
    site = pvlib.location.Location(LATITUDE, LONGITUDE, altitude=ELEVATION_M)
    sky = site.get_clearsky(quarter, model="ineichen").clip(lower=0.0)
    hourly = sky.groupby(sky.index.floor("h")).mean()
    day = hourly.index.day_of_year.to_numpy()
    hour_local = (hourly.index.hour.to_numpy() + LONGITUDE / 15.0) % 24
    temp_c = 9.5 - 8.5 * np.cos(2 * np.pi * (day - 15) / 365) + 4.0 * np.cos(2 * np.pi * (hour_local - 15) / 24) - 2.0
    rows = [
        {
            "time(UTC)": t.strftime("%Y%m%d:%H%M"),
            "T2m": round(float(tc), 1),
            "G(h)": round(float(g), 1),
            "Gb(n)": round(float(b), 1),
            "Gd(h)": round(float(d), 1),
            "WS10m": 2.0,
        }
        for t, tc, g, b, d in zip(hourly.index, temp_c, hourly["ghi"], hourly["dni"], hourly["dhi"])
    ]
    document = {
        "inputs": {"location": {"latitude": LATITUDE, "longitude": LONGITUDE, "elevation": ELEVATION_M}},
        "outputs": {"months_selected": [{"month": m, "year": YEAR} for m in range(1, 13)], "tmy_hourly": rows},
        "meta": {"inputs": {}, "source": "synthetic clear sky (pvlib Ineichen), see make_kassel_clearsky.py; not measured"},
    }
    out = Path(__file__).with_name("kassel_clearsky_pvgis.json.gz")
    with gzip.open(out, "wt", encoding="utf-8") as f:
        json.dump(document, f, separators=(",", ":"))
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB, {len(rows)} hours)")


if __name__ == "__main__":
    main()
