"""The user's files as [load]/[pv] sections: what the run saw (energy, dates), reuse options and clear refusals."""

import json
import logging
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from pydantic import TypeAdapter

from socbal.errors import InputError
from socbal.profiles.simple import SyntheticHouseholdProfile
from socbal.profiles.specs import LoadSpec, PvSpec
from socbal.scenario import scenario_from_dict
from socbal.sim.engine import simulate

LOAD = TypeAdapter(LoadSpec)
PV = TypeAdapter(PvSpec)


def write_week_csv(path, start="2023-01-02", days=14, unit_scale=1.0):
    """Hourly load in W whose value is 100 W times the ISO weekday (Mon 100 ... Sun 700)."""
    stamps = pd.date_range(start, periods=days * 24, freq="h")
    pd.DataFrame({"time": stamps.strftime("%Y-%m-%d %H:%M"), "p": 100.0 * (stamps.day_of_week + 1) * unit_scale}).to_csv(
        path, index=False
    )
    return path


def test_simulation_sees_the_energy_and_dates_of_a_german_meter_file(tmp_path):
    stamps = pd.date_range("2024-04-01", periods=3 * 96, freq="15min")
    lines = ["Datum;Zeit;kWh"] + [f"{t:%d.%m.%Y};{t:%H:%M};0,125" for t in stamps]
    (tmp_path / "meter.csv").write_text("\n".join(lines) + "\n")
    scenario = scenario_from_dict(
        {
            "run": {"start": "2024-04-02T00:00:00+02:00", "step_s": 900, "horizon_h": 24},
            "load": {
                "kind": "file",
                "path": "meter.csv",
                "column": "kWh",
                "unit": "kWh",
                "time_column": ["Datum", "Zeit"],
                "tz": "Europe/Berlin",
            },
        },
        base_dir=tmp_path,
    )
    result = simulate(scenario)
    assert result.summary["energy_kwh"]["load"] == pytest.approx(24 * 4 * 0.125)
    assert result.device["timestamp"].iloc[-1] == pd.Timestamp("2024-04-03 00:00", tz="Europe/Berlin")
    assert result.summary["input_gaps"] == {"load": {"count": 0, "longest_h": 0.0, "gaps": []}}


def test_gaps_the_run_meets_go_into_the_summary(tmp_path, caplog):
    stamps = pd.date_range("2024-05-01", periods=96, freq="15min")
    frame = pd.DataFrame({"time": stamps.strftime("%Y-%m-%d %H:%M"), "p": 400.0}).drop(index=range(40, 64))
    frame.to_csv(tmp_path / "p.csv", index=False)
    scenario = scenario_from_dict(
        {
            "run": {"start": "2024-05-01T00:00:00+00:00", "step_s": 900, "horizon_h": 24},
            "load": {"kind": "file", "path": "p.csv", "column": "p"},
        },
        base_dir=tmp_path,
    )
    with caplog.at_level(logging.WARNING, logger="socbal"):
        result = simulate(scenario)
    assert result.summary["input_gaps"]["load"]["count"] == 1
    assert result.summary["input_gaps"]["load"]["longest_h"] == 6.0
    assert result.summary["input_gaps"]["load"]["gaps"][0]["start"] == "2024-05-01 10:00:00+00:00"
    assert "load: 1 gap(s) longer than 3 steps" in caplog.text
    assert result.summary["energy_kwh"]["load"] == pytest.approx(9.6)


def _offset_file(tmp_path, drop=(), negative_row=None):
    """Quarter-hourly load of 300 W over two days, stamped with the +02:00 offset as a German logger writes them."""
    stamps = pd.date_range("2025-06-02", periods=2 * 96, freq="15min", tz="Europe/Berlin")
    frame = pd.DataFrame({"time": [t.isoformat() for t in stamps], "p": 300.0})
    if negative_row is not None:
        frame.loc[negative_row, "p"] = -5.0
    frame.drop(index=list(drop)).to_csv(tmp_path / "p.csv", index=False)
    return {"kind": "file", "path": "p.csv", "column": "p"}  # no tz: the stamps carry their offset


@pytest.mark.parametrize(
    "load, horizon_h, message",
    [
        ({"negative_row": 42}, 24, "value -5 W at 2025-06-02 10:30:00+02:00 is not allowed"),
        ({"drop": range(40, 80)}, 24, "a gap of 10.00 h from 2025-06-02 10:00:00+02:00 to 2025-06-02 20:00:00+02:00"),
        ({}, 72, "the run from 2025-06-02 00:00:00+02:00 to 2025-06-05 00:00:00+02:00 is not covered: the file covers "
         "2025-06-02 00:00:00+02:00 to 2025-06-04 00:00:00+02:00"),
    ],
)  # fmt: skip
def test_file_errors_give_stamps_in_the_run_zone_as_written_not_utc(tmp_path, load, horizon_h, message):
    # They read "10:30:00+00:00"-style UTC stamps for a file written, and a run started, at +02:00.
    raw = {"run": {"start": "2025-06-02T00:00:00+02:00", "step_s": 900, "horizon_h": horizon_h}}
    raw["load"] = {**_offset_file(tmp_path, **load), "max_gap_h": 1}
    with pytest.raises(InputError) as err:
        simulate(scenario_from_dict(raw, base_dir=tmp_path))
    assert message in str(err.value) and "+00:00" not in str(err.value)


def test_gaps_in_the_summary_and_the_warning_are_in_the_run_zone(tmp_path, caplog):
    raw = {"run": {"start": "2025-06-02T00:00:00+02:00", "step_s": 900, "horizon_h": 24}}
    raw["load"] = _offset_file(tmp_path, drop=range(40, 64))
    with caplog.at_level(logging.WARNING, logger="socbal"):
        result = simulate(scenario_from_dict(raw, base_dir=tmp_path))
    gap = result.summary["input_gaps"]["load"]["gaps"][0]
    assert (gap["start"], gap["end"]) == ("2025-06-02 10:00:00+02:00", "2025-06-02 16:00:00+02:00")
    assert "from 2025-06-02 10:00:00+02:00 to 2025-06-02 16:00:00+02:00" in caplog.text


def test_a_measured_year_is_shifted_to_the_run_year_by_weekday(tmp_path):
    path = write_week_csv(tmp_path / "w.csv")
    spec = LOAD.validate_python({"kind": "file", "path": str(path), "column": "p", "shift_to_year": True})
    start = pd.Timestamp("2026-03-02", tz="UTC")  # a Monday, years after the file
    load = spec.series(start, 7 * 86400)
    assert load.index[0] == start and len(load) == 7 * 24
    by_day = load.groupby(load.index.day_of_week).mean()
    assert list(by_day) == [100.0 * (d + 1) for d in range(7)]
    with pytest.raises(InputError, match="set shift_to_year = true"):
        LOAD.validate_python({"kind": "file", "path": str(path), "column": "p"}).series(start, 86400)


def test_load_is_scaled_to_an_annual_consumption_and_pv_to_an_array_size(tmp_path):
    path = write_week_csv(tmp_path / "w.csv")
    spec = LOAD.validate_python({"kind": "file", "path": str(path), "column": "p", "scale_to_kwh_per_year": 3504.0})
    load = spec.series(pd.Timestamp("2023-01-02", tz="UTC"), 14 * 86400)
    assert load.mean() * 8760 / 1000 == pytest.approx(3504.0)
    pv = PV.validate_python({"kind": "file", "path": str(path), "column": "p", "kwp": 2.0, "scale_to_kwp": 5.0})
    assert pv.series(pd.Timestamp("2023-01-02", tz="UTC"), 86400).iloc[0] == 250.0
    with pytest.raises(Exception, match="scale_to_kwp needs kwp"):
        PV.validate_python({"kind": "file", "path": str(path), "column": "p", "scale_to_kwp": 5.0})


def test_kw_read_as_w_gets_one_warning_line_and_an_impossible_peak_is_refused(tmp_path, caplog):
    path = write_week_csv(tmp_path / "kw.csv", unit_scale=0.0035)  # 0.35 ... 2.45: kW written in a W column
    spec = LOAD.validate_python({"kind": "file", "path": str(path), "column": "p"})
    with caplog.at_level(logging.WARNING, logger="socbal"):
        spec.series(pd.Timestamp("2023-01-02", tz="UTC"), 86400)
    assert [r.getMessage() for r in caplog.records] == [
        "load.unit: median 1.4 W: is this kW, or each interval's kWh? then set unit = 'kW' or 'kWh'"
    ]
    huge = write_week_csv(tmp_path / "huge.csv", unit_scale=1e6)
    with pytest.raises(InputError, match=r"load.unit: a peak of 7e\+08 W is not allowed"):
        LOAD.validate_python({"kind": "file", "path": str(huge), "column": "p"}).series(
            pd.Timestamp("2023-01-02", tz="UTC"), 86400
        )


def test_pv_in_kw_read_as_w_is_named(tmp_path, caplog):
    path = write_week_csv(tmp_path / "pv.csv", unit_scale=0.002)  # peak 1.4: kW in a W column
    with caplog.at_level(logging.WARNING, logger="socbal"):
        PV.validate_python({"kind": "file", "path": str(path), "column": "p"}).series(pd.Timestamp("2023-01-02", tz="UTC"), 86400)
    assert [r.getMessage() for r in caplog.records] == [
        "pv.unit: peak 1.4 W: is this kW, or each interval's kWh? then set unit = 'kW' or 'kWh'"
    ]


def test_pack_values_in_the_wrong_unit(caplog):
    with caplog.at_level(logging.WARNING, logger="socbal"):
        scenario_from_dict({"main": {"id": "main", "soc_pct": 0.4}, "packs": [{"id": "p1", "capacity_wh": 19.2}]})
    assert [r.getMessage() for r in caplog.records] == [
        "main.soc_pct: 0.4 %: is this a fraction? then give 40 (percent)",
        "packs[0].capacity_wh: 19.2 Wh: is this kWh? then give 19200",
    ]
    with pytest.raises(
        InputError, match="main.capacity_wh: value 1.92 is not allowed: must be at least 10 Wh; 1.92 looks like kWh"
    ):
        scenario_from_dict({"main": {"id": "main", "capacity_wh": 1.92}})


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ("[load]\nkind = 'file'\npath = 'x.csv'\ncolumn = 'p'\n", "load.path: file 'x.csv' not found (relative to "),
        ("[pv]\nkind = 'file'\npath = 'y.csv'\ncolumn = 'p'\n", "pv.path: file 'y.csv' not found (relative to "),
        ("[load]\nkind = 'file'\npath = 'p.csv'\ncolumn = 'p'\ndayfirst = 'maybe'\n", "load.dayfirst: value 'maybe'"),
        ("[load]\nkind = 'file'\npath = 'p.csv'\ncolumn = 'q'\n", "load column 'q' is not in the file; columns there: time, p"),
        (
            "[load]\nkind = 'file'\npath = 'p.csv'\ncolumn = 'p'\ntz = 'Europe/Berlin'\n",
            "load.ambiguous: local time 2024-10-27 02:00:00",
        ),
    ],
)
def test_bad_file_sections_exit_2_with_one_line_naming_the_section(tmp_path, section, expected):
    stamps = pd.date_range("2024-10-26", "2024-10-29", freq="h", inclusive="left")
    pd.DataFrame({"time": stamps.strftime("%Y-%m-%d %H:%M"), "p": 100.0}).to_csv(tmp_path / "p.csv", index=False)
    scenario = tmp_path / "s.toml"
    scenario.write_text("[run]\nstart = 2024-10-27T00:00:00+02:00\nhorizon_h = 24\n" + section)
    out = subprocess.run(
        [sys.executable, "-m", "socbal", "simulate", str(scenario), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 2, out.stderr
    assert expected in out.stderr and "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert str(scenario) in out.stderr or "load column" in out.stderr or "ambiguous" in out.stderr
    assert not (tmp_path / "out").exists()


def test_json_of_a_result_names_the_file_options(tmp_path):
    path = write_week_csv(tmp_path / "w.csv")
    scenario = scenario_from_dict(
        {
            "run": {"start": "2023-01-02T00:00:00+00:00", "step_s": 3600, "horizon_h": 48},
            "load": {"kind": "file", "path": str(path), "column": "p"},
        }
    )
    dumped = json.loads(scenario.model_dump_json())
    assert dumped["load"]["kind"] == "file" and dumped["load"]["dayfirst"] is None and dumped["load"]["fill"] == "interpolate"
    assert np.isclose(simulate(scenario).summary["energy_kwh"]["load"], 24 * 0.1 + 24 * 0.2)


def test_german_household_example_runs_on_its_meter_week_and_european_weather():
    from pathlib import Path

    from socbal.scenario import load_scenario

    examples = Path(__file__).resolve().parents[2] / "examples"
    meter = pd.read_csv(examples / "data" / "household_meter_de.csv", sep=";", decimal=",")
    result = simulate(load_scenario(examples / "german_household.toml"))
    # 2026-06-01 is a Monday, as the file's first day (2025-06-02): the run sees the file's first week
    assert result.summary["energy_kwh"]["load"] == pytest.approx(meter["Verbrauch [kWh]"][: 7 * 96].sum(), rel=1e-6)
    assert result.device["timestamp"].iloc[0] == pd.Timestamp("2026-06-01 00:15", tz="Europe/Berlin")
    assert 6.0 < result.summary["energy_kwh"]["pv"] / 7 / 1.6 < 7.5  # clear-sky June days, kWh per kWp


def test_readme_home_assistant_section_reads_the_export(tmp_path):
    from tests.profiles.test_formats import ha_history

    (tmp_path / "history.csv").write_text(ha_history())
    spec = LOAD.validate_python(
        {"kind": "file", "path": str(tmp_path / "history.csv"), "column": "sensor.house_power", "step_s": 300}
    )
    load = spec.series(pd.Timestamp("2024-05-01 01:00", tz="UTC"), 3600)
    assert len(load) == 12 and load.sum() * 300 / 3.6e6 == pytest.approx(0.9)  # 900 W for the hour


def test_a_folder_given_as_a_profile_file_is_named_a_folder(tmp_path):
    with pytest.raises(InputError, match=r"load.path: file '\.' is a folder, expected a file \(relative to "):
        scenario_from_dict({"load": {"kind": "file", "path": ".", "column": "p"}}, base_dir=tmp_path)


def write_solar_days(path, start="2024-06-03", days=3, peak_w=1500.0, peak_hour=13, tz_note=""):
    """Hourly PV in W: a half sine from peak_hour - 6 to peak_hour + 6 each day."""
    stamps = pd.date_range(start, periods=days * 24, freq="h")
    hours = stamps.hour.to_numpy()
    power = np.clip(peak_w * np.cos((hours - peak_hour) / 12 * np.pi), 0, None)
    pd.DataFrame({"time": stamps.strftime("%Y-%m-%d %H:%M"), "p": power}).to_csv(path, index=False)
    return path


def warnings_of(spec, adapter, caplog, start="2024-06-03", tz="UTC"):
    with caplog.at_level(logging.WARNING, logger="socbal"):
        adapter.validate_python(spec).series(pd.Timestamp(start, tz=tz), 86400)
    return [r.getMessage() for r in caplog.records]


def test_a_load_far_beyond_a_home_is_warned_about(tmp_path, caplog):
    path = write_week_csv(tmp_path / "load.csv", unit_scale=20)  # 2-14 kW, 192 kWh a day on average
    [message] = warnings_of({"kind": "file", "path": str(path), "column": "p"}, LOAD, caplog, "2023-01-02")
    assert message.startswith("load.column: 192 kWh a day (mean 8000 W) is far beyond a home (at most 100)")
    caplog.clear()
    path = write_week_csv(tmp_path / "home.csv", unit_scale=2)  # 19 kWh a day: a home
    assert warnings_of({"kind": "file", "path": str(path), "column": "p"}, LOAD, caplog, "2023-01-02") == []


def test_pv_above_its_nameplate_is_warned_about(tmp_path, caplog):
    path = write_solar_days(tmp_path / "pv.csv", peak_w=4500.0)
    spec = {"kind": "file", "path": str(path), "column": "p", "kwp": 1.6}
    assert warnings_of(spec, PV, caplog) == [
        "pv.kwp: the file peaks at 4500 W, above 130 % of the array's kwp = 1.6: is kwp right, or the file another array's?"
    ]
    caplog.clear()
    assert warnings_of({**spec, "kwp": 4.0}, PV, caplog) == []  # 4500 W from 4 kWp: cold, bright, plausible


def test_pv_that_peaks_at_night_is_named_as_a_time_zone_question(tmp_path, caplog):
    # A US array's file in UTC read as UTC: noon in Denver is 19:00 UTC.
    path = write_solar_days(tmp_path / "pv.csv", peak_hour=19)
    assert warnings_of({"kind": "file", "path": str(path), "column": "p"}, PV, caplog) == [
        "pv.tz: the average day of PV peaks at 19:00 in UTC, not between 09:00 and 17:00: are the stamps in another "
        "time zone? then set tz"
    ]
    caplog.clear()
    spec = {"kind": "file", "path": str(path), "column": "p", "tz": "America/Denver"}  # read in its own zone: 13:00
    write_solar_days(tmp_path / "pv.csv", peak_hour=13)
    assert warnings_of(spec, PV, caplog, tz="America/Denver") == []


def test_the_pv_peak_hour_is_checked_in_the_run_zone(tmp_path, caplog):
    # Stamps with their offset (-06:00), noon at 13:00 local: they are right, yet it warned "peaks at 19:00 in UTC".
    stamps = pd.date_range("2024-06-03", periods=72, freq="h", tz="America/Denver")
    power = np.clip(1500.0 * np.cos((stamps.hour.to_numpy() - 13) / 12 * np.pi), 0, None)
    pd.DataFrame({"time": [t.isoformat() for t in stamps], "p": power}).to_csv(tmp_path / "pv.csv", index=False)
    spec = {"kind": "file", "path": str(tmp_path / "pv.csv"), "column": "p"}
    assert warnings_of(spec, PV, caplog, tz="America/Denver") == []
    # Local times without an offset read as UTC (tz not set) for a run in Denver: peaks at 07:00 there; it said nothing.
    path = write_solar_days(tmp_path / "naive.csv", peak_hour=13)
    [message] = warnings_of({"kind": "file", "path": str(path), "column": "p"}, PV, caplog, tz="America/Denver")
    assert message.startswith("pv.tz: the average day of PV peaks at 07:00 in America/Denver, not between 09:00 and 17:00")


def test_local_times_that_do_not_exist_are_warned_about(tmp_path, caplog):
    # A file without daylight saving (standard time all year) read as Europe/Berlin: 02:00-02:45 on 31 March.
    stamps = pd.date_range("2024-03-30", periods=3 * 96, freq="15min")
    pd.DataFrame({"time": stamps.strftime("%Y-%m-%d %H:%M"), "p": 400.0}).to_csv(tmp_path / "l.csv", index=False)
    spec = {"kind": "file", "path": str(tmp_path / "l.csv"), "column": "p", "tz": "Europe/Berlin"}
    [message] = warnings_of(spec, LOAD, caplog, "2024-03-30", tz="Europe/Berlin")
    assert message.startswith(
        "load.tz: 4 stamp(s) in column 'time', the first 2024-03-31 02:00:00, do not exist in Europe/Berlin"
    )
    assert "is the file in standard time or UTC?" in message


def test_a_profile_of_zeros_is_named_as_a_column_question(tmp_path, caplog):
    path = write_week_csv(tmp_path / "zero.csv", unit_scale=0.0)
    assert warnings_of({"kind": "file", "path": str(path), "column": "p"}, LOAD, caplog, "2023-01-02") == [
        "load.column: the load is 0 throughout: is this the right column?"
    ]
    caplog.clear()
    assert warnings_of({"kind": "file", "path": str(path), "column": "p"}, PV, caplog, "2023-01-02") == [
        "pv.column: the PV is 0 throughout: is this the right column?"
    ]


@pytest.mark.parametrize(
    ("adapter", "spec", "home", "expected"),
    [
        (PV, {"kind": "pvlib", "kwp": 1600}, {"kwp": 1.6}, "pv.kwp: 1600 kWp for a household array: is this Wp? then give 1.6"),
        (
            PV,
            {"kind": "file", "path": "x.csv", "column": "p", "kwp": 1.6, "scale_to_kwp": 2400},
            {"scale_to_kwp": 2.4},
            "pv.scale_to_kwp: 2400 kWp for a household array: is this Wp? then give 2.4",
        ),
        (
            LOAD,
            {"kind": "bdew-h0", "annual_kwh": 3_000_000},
            {"annual_kwh": 3000},
            "load.annual_kwh: 3e+06 kWh a year (8219 kWh a day) is far beyond a home (at most 100 a day): "
            "is this Wh? then give 3000",
        ),
        (
            TypeAdapter(SyntheticHouseholdProfile),
            {"kind": "synthetic-household", "daily_kwh": 600},
            {"daily_kwh": 12},
            "load.daily_kwh: 600 kWh a day is far beyond a home (at most 100)",
        ),
    ],
)
def test_sizes_in_the_wrong_unit_are_warned_about(adapter, spec, home, expected, caplog, tmp_path):
    if "path" in spec:
        spec = {**spec, "path": str(write_week_csv(tmp_path / spec["path"]))}
    with caplog.at_level(logging.WARNING, logger="socbal"):
        adapter.validate_python(spec)
    assert [r.getMessage() for r in caplog.records] == [expected]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="socbal"):  # a home's sizes: quiet
        adapter.validate_python({**spec, **home})
    assert caplog.records == []


def test_a_running_energy_total_read_as_power_is_named(tmp_path, caplog):
    # in a table unit = 'kWh' means each interval's energy, so the advice is the differences (it said "set unit = 'kWh'",
    # which read the reading 1000 kWh as 4 MW)
    stamps = pd.date_range("2024-06-03", periods=96, freq="15min")
    meter_kwh = 1000.0 + np.arange(96) * 0.1  # a meter reading, 400 W
    pd.DataFrame({"time": stamps.strftime("%Y-%m-%d %H:%M"), "p": meter_kwh}).to_csv(tmp_path / "m.csv", index=False)
    assert warnings_of({"kind": "file", "path": str(tmp_path / "m.csv"), "column": "p"}, LOAD, caplog) == [
        "load.unit: the column only rises (1000 to 1010 W): is it a running energy total? a table's Wh and kWh are each "
        "interval's energy: give the reading's differences, unit = 'kWh' or 'Wh'"
    ]


def test_a_running_energy_total_read_as_each_intervals_energy_is_named(tmp_path, caplog):
    # a meter reading from 0 given as unit = 'kWh' in a table: 0.01 to 2.88 kWh a quarter hour, nothing else warned of it
    stamps = pd.date_range("2024-06-03", periods=288, freq="15min")
    meter_kwh = np.arange(1, 289) * 0.01
    pd.DataFrame({"time": stamps.strftime("%Y-%m-%d %H:%M"), "e": meter_kwh}).to_csv(tmp_path / "m.csv", index=False)
    spec = {"kind": "file", "path": str(tmp_path / "m.csv"), "column": "e", "unit": "kWh"}
    assert warnings_of(spec, LOAD, caplog) == [
        "load.unit: the column only rises (40 to 1.152e+04 W as read): is it a running energy total? a table's Wh and kWh "
        "are each interval's energy: give the reading's differences, unit = 'kWh' or 'Wh'"
    ]


def _simulated_load_kwh(tmp_path, stamps: pd.DatetimeIndex, power_w: np.ndarray, step_s: float, horizon_h: float) -> float:
    """The load energy (kWh) a run at ``step_s`` from the file's first stamp sees of a power file."""
    pd.DataFrame({"time": stamps.strftime("%Y-%m-%dT%H:%M:%S"), "p": power_w}).to_csv(tmp_path / "l.csv", index=False)
    scenario = scenario_from_dict(
        {
            "run": {"start": stamps[0].isoformat(), "step_s": step_s, "horizon_h": horizon_h},
            "main": {"id": "main"},
            "load": {"kind": "file", "path": str(tmp_path / "l.csv"), "column": "p"},
            "pv": {"kind": "constant", "power_w": 0},
        }
    )
    return simulate(scenario).summary["energy_kwh"]["load"]


def test_a_one_second_file_at_hourly_steps_keeps_its_energy(tmp_path):
    # One minute in ten at 3 kW, else 100 W: 390 W on average; each hour starts inside a peak.
    stamps = pd.date_range("2026-06-01", periods=3 * 3600, freq="s")
    power = np.where(stamps.minute % 10 < 1, 3000.0, 100.0)
    assert _simulated_load_kwh(tmp_path, stamps, power, 3600, 2) == pytest.approx(0.39 * 2, rel=1e-9)


def test_a_step_that_does_not_divide_the_files_interval_keeps_its_energy(tmp_path):
    # 15-min readings alternating 1000 / 100 W at 420 s steps: each step read the value at its start, so the steps that
    # straddle two readings took one of them whole (1.155 kWh; 0.2 % off on a smooth meter file)
    stamps = pd.date_range("2026-06-01", periods=12, freq="15min")
    power = np.where(np.arange(12) % 2 == 0, 1000.0, 100.0)
    # 2 h of four 1000 W and four 100 W quarters (1.1 kWh), then 0.1 h of the next 1000 W quarter
    assert _simulated_load_kwh(tmp_path, stamps, power, 420, 2.1) == pytest.approx(1.2, rel=1e-9)


@pytest.mark.parametrize("role", ["load", "pv"])
def test_a_column_without_a_number_names_the_section_and_column(tmp_path, role):
    # It said "timeseries column for load_w: ..." : neither the section nor the file's column.
    stamps = pd.date_range("2025-06-02", periods=8, freq="h")
    pd.DataFrame({"time": stamps.strftime("%Y-%m-%d %H:%M"), "watts": ["unavailable"] * 8}).to_csv(
        tmp_path / "p.csv", index=False
    )
    raw = {
        "run": {"start": "2025-06-02T00:00:00", "step_s": 900, "horizon_h": 4},
        role: {"kind": "file", "path": "p.csv", "column": "watts"},
    }
    with pytest.raises(InputError, match=rf"^{role} column 'watts': no values \(all missing\)"):
        simulate(scenario_from_dict(raw, base_dir=tmp_path))
