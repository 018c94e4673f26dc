"""Write ``household_meter_de.csv``: two weeks of a household's load as a German smart-meter portal exports it.

Synthetic, not measured: socbal's stochastic BDEW H0 load (3500 kWh/a, seed 1)
for 2 to 15 June 2025, summed per quarter hour, written the way German
metering portals do: ``;`` separated, decimal comma, day-first date and time
in separate columns, local time (Europe/Berlin), energy in kWh per quarter
hour labelled by the interval's end. Rerun: ``python examples/data/make_household_meter.py``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from socbal.profiles.load import stochastic_load_w


def main() -> None:
    start = pd.Timestamp("2025-06-02", tz="Europe/Berlin")  # a Monday
    load_w = stochastic_load_w(3500.0, start, 14 * 86400, step_s=60, seed=1)
    kwh = load_w.resample("15min").mean() * 0.25 / 1000.0
    end = kwh.index + pd.Timedelta(minutes=15)
    values = [f"{v:.4f}".replace(".", ",") for v in kwh]
    lines = ["Datum;Uhrzeit;Verbrauch [kWh]"] + [f"{t:%d.%m.%Y};{t:%H:%M};{v}" for t, v in zip(end, values)]
    out = Path(__file__).with_name("household_meter_de.csv")
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {out} ({len(kwh)} quarter hours, {kwh.sum():.2f} kWh)")


if __name__ == "__main__":
    main()
