"""Files as people have them: each format and each failure mode, with a known total energy and the dates seen."""

import gzip
import logging
import zipfile

import numpy as np
import pandas as pd
import pytest

from socbal.errors import InputError
from socbal.profiles.timeseries import import_frame, read_table, read_timeseries, time_weighted_bins

BERLIN = "Europe/Berlin"


def energy_kwh(series: pd.Series) -> float:
    """Energy of a regular power series in kWh."""
    return float(series.sum() * pd.Timedelta(series.index.freq).total_seconds() / 3.6e6)


def german_meter(days=12, kwh_per_quarter=0.25):
    """A smart-meter export: ';', decimal comma, day-first dates, kWh per quarter hour, local time (April: no DST change)."""
    stamps = pd.date_range("2024-04-01", periods=days * 96, freq="15min")
    lines = ["Datum;Uhrzeit;Verbrauch (kWh)"]
    lines += [f"{t:%d.%m.%Y};{t:%H:%M};{str(kwh_per_quarter).replace('.', ',')}" for t in stamps]
    return "\n".join(lines) + "\n"


GERMAN = {"time_column": ["Datum", "Uhrzeit"], "tz": BERLIN, "load": {"column": "Verbrauch (kWh)", "unit": "kWh"}}


@pytest.mark.parametrize("name", ["meter.csv", "meter.txt", "meter.csv.gz", "meter.csv.zip"])
def test_german_meter_export_reads_day_first_with_decimal_comma(tmp_path, name):
    path = tmp_path / name
    text = german_meter()
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    elif name.endswith(".zip"):
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("meter.csv", text)
    else:
        path.write_text(text)
    got = read_timeseries({"path": path, **GERMAN})
    load = got.frame["load_w"]
    assert load.index[0] == pd.Timestamp("2024-04-01 00:00", tz=BERLIN)
    assert load.index[-1] == pd.Timestamp("2024-04-12 23:45", tz=BERLIN)
    assert len(load) == 12 * 96 and got.gaps.empty
    assert energy_kwh(load) == pytest.approx(12 * 96 * 0.25)
    assert (load == 1000.0).all()


def test_one_column_day_first_dates_and_the_option_that_decides():
    raw = pd.DataFrame({"time": ["05.04.2024 00:00", "05.04.2024 01:00", "05.04.2024 02:00"], "p": [1.0, 2.0, 3.0]})
    with pytest.raises(InputError, match="load.dayfirst: the dates in column 'time' read both as") as err:
        import_frame(raw, {"load": {"column": "p"}}, "load")
    assert "\n" not in str(err.value)
    got = import_frame(raw, {"load": {"column": "p"}, "dayfirst": True})
    assert got.frame.index[0] == pd.Timestamp("2024-04-05", tz="UTC")
    got = import_frame(raw, {"load": {"column": "p"}, "time_format": "%m.%d.%Y %H:%M"})
    assert got.frame.index[0] == pd.Timestamp("2024-05-04", tz="UTC")


def test_us_dates_are_read_month_first_when_the_days_say_so():
    stamps = pd.date_range("2024-04-10", periods=96 * 5, freq="15min")
    raw = pd.DataFrame({"time": stamps.strftime("%m/%d/%Y %H:%M"), "p": 400.0})
    got = import_frame(raw, {"pv": {"column": "p"}})
    assert got.frame.index[0] == pd.Timestamp("2024-04-10", tz="UTC") and len(got.frame) == 96 * 5


@pytest.mark.parametrize("marker", ["?", "-", "unavailable", "unknown", ""])
def test_missing_value_markers_are_gaps(tmp_path, marker):
    path = tmp_path / "log.csv"
    values = ["100"] * 8
    values[3] = marker
    stamps = pd.date_range("2024-05-01", periods=8, freq="h").strftime("%Y-%m-%d %H:%M")
    path.write_text("time,p\n" + "\n".join(f"{t},{v}" for t, v in zip(stamps, values)) + "\n")
    got = read_timeseries({"path": path, "load": {"column": "p"}})
    assert list(got.gaps["start"]) == [pd.Timestamp("2024-05-01 03:00", tz="UTC")]
    assert list(got.gaps["missing_s"]) == [3600.0]
    assert energy_kwh(got.frame["load_w"]) == pytest.approx(0.8)  # interpolated across the gap


def test_unknown_marker_names_the_options():
    raw = pd.DataFrame({"time": pd.date_range("2024-05-01", periods=3, freq="h").astype(str), "p": ["1", "n.v.", "3"]})
    with pytest.raises(InputError, match="value 'n.v.' in row 3 is not a number; set decimal, or add the marker to na_values"):
        import_frame(raw, {"load": {"column": "p"}})
    got = import_frame(raw, {"load": {"column": "p"}, "na_values": ["n.v."]})
    assert list(got.gaps["start"]) == [pd.Timestamp("2024-05-01 01:00", tz="UTC")] and list(got.frame["load_w"]) == [1, 2, 3]


def test_end_labels_shift_energy_to_the_interval_before():
    raw = pd.DataFrame({"time": ["2024-05-01 00:15", "2024-05-01 00:30", "2024-05-01 00:45"], "e": [0.1, 0.2, 0.3]})
    got = import_frame(raw, {"load": {"column": "e", "unit": "kWh"}, "label": "end"})
    assert got.frame.index[0] == pd.Timestamp("2024-05-01 00:00", tz="UTC")
    assert list(got.frame["load_w"]) == pytest.approx([400.0, 800.0, 1200.0])
    assert energy_kwh(got.frame["load_w"]) == pytest.approx(0.6)


def test_irregular_power_is_averaged_by_time_not_by_row():
    raw = pd.DataFrame(
        {"time": ["2024-05-01 00:00", "2024-05-01 00:07", "2024-05-01 00:40", "2024-05-01 00:52"], "p": [100.0, 400.0, 0.0, 0.0]}
    )
    got = import_frame(raw, {"load": {"column": "p"}, "step_s": 900})
    # 100 W for 7 min, 400 W for 33 min, 0 W for 12 + 12 min (the last value held one median spacing)
    assert list(got.frame["load_w"]) == pytest.approx([(100 * 7 + 400 * 8) / 15, 400.0, 400.0 * 10 / 15, 0.0, 0.0])
    assert energy_kwh(got.frame["load_w"]) == pytest.approx((100 * 7 + 400 * 33) / 60 / 1000)
    assert got.gaps.empty and got.frame.index[0] == pd.Timestamp("2024-05-01", tz="UTC")


def test_irregular_energy_readings_are_spread_over_their_intervals():
    stamps = ["2024-05-01 00:00", "2024-05-01 00:17", "2024-05-01 00:50", "2024-05-01 01:01"]
    raw = pd.DataFrame({"time": stamps, "e": [0.1, 0.3, 0.05, 0.0]})
    got = import_frame(raw, {"load": {"column": "e", "unit": "kWh"}, "label": "end", "step_s": 60})
    load = got.frame["load_w"]
    # each reading covers the time since the one before; the first one the median spacing (17 min) before it
    assert load.index[0] == pd.Timestamp("2024-04-30 23:43", tz="UTC") and got.gaps.empty
    assert energy_kwh(load) == pytest.approx(0.45)
    assert load["2024-05-01 00:00":"2024-05-01 00:16"].mean() == pytest.approx(300.0 / (17 / 60))
    assert load["2024-05-01 00:17":"2024-05-01 00:49"].mean() == pytest.approx(50.0 / (33 / 60))


def test_irregular_file_never_says_step_zero():
    raw = pd.DataFrame({"time": ["2024-05-01 00:00:00", "2024-05-01 00:00:00.4", "2024-05-01 00:00:01"], "p": [1, 2, 3]})
    with pytest.raises(InputError) as err:
        import_frame(raw, {"load": {"column": "p"}})
    assert "step_s" in str(err.value) and "0 days" not in str(err.value)


def test_time_weighted_bins_keep_energy():
    starts = np.array([0.0, 100.0, 350.0])
    ends = np.array([100.0, 300.0, 600.0])
    values = np.array([10.0, 20.0, 30.0])
    mean, covered = time_weighted_bins(starts, ends, values, np.array([0.0, 200.0, 400.0, 600.0]))
    assert (mean * covered).sum() == pytest.approx((values * (ends - starts)).sum())
    assert list(covered) == [200.0, 150.0, 200.0]


def ha_history():
    """HA history: a power sensor's irregular events, with unavailable, and a PV sensor in kW."""
    rows = [
        ("sensor.house_power", "300", "2024-05-01T00:00:00.000Z"),
        ("sensor.house_power", "600", "2024-05-01T00:20:00.000Z"),
        ("sensor.house_power", "unavailable", "2024-05-01T00:40:00.000Z"),
        ("sensor.house_power", "900", "2024-05-01T01:00:00.000Z"),
        ("sensor.house_power", "900", "2024-05-01T02:00:00.000Z"),
        ("sensor.pv_power", "1.2", "2024-05-01T00:00:00.000Z"),
        ("sensor.pv_power", "unknown", "2024-05-01T01:30:00.000Z"),
        ("sensor.pv_power", "0.6", "2024-05-01T01:45:00.000Z"),
        ("sensor.pv_power", "0.6", "2024-05-01T02:00:00.000Z"),
    ]
    return "entity_id,state,last_changed\n" + "\n".join(",".join(r) for r in rows) + "\n"


def test_home_assistant_history_is_held_until_the_next_event(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text(ha_history())
    got = read_timeseries(
        {"path": path, "load": {"column": "sensor.house_power"}, "pv": {"column": "sensor.pv_power", "unit": "kW"}, "tz": BERLIN}
    )
    load, pv = got.frame["load_w"], got.frame["pv_w"]
    assert load.index[0] == pd.Timestamp("2024-05-01 02:00", tz=BERLIN) and load.index.freq == pd.Timedelta("5min")
    assert len(load) == 24
    # 300 W 20 min, 600 W 20 min, unavailable 20 min (filled by interpolation: 600 -> 900), 900 W 60 min
    assert energy_kwh(load[:4] * 1) == pytest.approx(0.1)
    assert energy_kwh(load[-12:]) == pytest.approx(0.9)
    assert list(got.gaps.query("column == 'load_w'")["start"]) == [pd.Timestamp("2024-05-01 02:40", tz=BERLIN)]
    assert energy_kwh(pv[:18]) == pytest.approx(1.8)  # 1.2 kW for 1.5 h
    assert energy_kwh(pv[-3:]) == pytest.approx(0.15)  # 0.6 kW for 15 min


def test_home_assistant_energy_sensor_total_becomes_power():
    rows = pd.DataFrame(
        {
            "entity_id": "sensor.meter",
            "state": ["100.0", "100.5", "101.5", "0.5"],  # kWh; the last is a reset
            "last_changed": ["2024-05-01T00:00:00Z", "2024-05-01T00:30:00Z", "2024-05-01T01:00:00Z", "2024-05-01T02:00:00Z"],
        }
    )
    got = import_frame(rows, {"load": {"column": "sensor.meter", "unit": "kWh"}, "step_s": 1800})
    assert list(got.frame["load_w"]) == pytest.approx([1000.0, 2000.0, 500.0, 500.0])
    assert energy_kwh(got.frame["load_w"]) == pytest.approx(2.0)


def test_home_assistant_statistics_mean_and_sum():
    start = pd.date_range("2024-05-01", periods=4, freq="h", tz="UTC").strftime("%Y-%m-%dT%H:%M:%S+00:00")
    power = pd.DataFrame({"statistic_id": "sensor.house_power", "start": start, "mean": [200.0, 400.0, 600.0, 800.0]})
    got = import_frame(power, {"load": {"column": "sensor.house_power"}})
    assert got.step_s == 3600 and energy_kwh(got.frame["load_w"]) == pytest.approx(2.0)
    energy = pd.DataFrame({"statistic_id": "sensor.energy", "start": start, "sum": [10.0, 10.5, 11.5, 13.0], "mean": ""})
    got = import_frame(energy, {"load": {"column": "sensor.energy", "unit": "kWh"}})
    assert got.frame.index[0] == pd.Timestamp("2024-05-01 01:00", tz="UTC")  # the first hour's energy is unknown
    assert list(got.frame["load_w"]) == pytest.approx([500.0, 1000.0, 1500.0]) and energy_kwh(got.frame["load_w"]) == 3.0


def test_home_assistant_unknown_entity_lists_the_ones_there():
    raw = pd.read_csv(pd.io.common.StringIO(ha_history()))
    with pytest.raises(
        InputError, match="entity_id 'sensor.nope' is not in the export; there: sensor.house_power, sensor.pv_power"
    ):
        import_frame(raw, {"load": {"column": "sensor.nope"}}, "load")


def autumn_local_hours():
    """Naive local hours of October 2024 in Berlin, the repeated 02:00 written once (as many loggers do)."""
    stamps = pd.date_range("2024-10-01", "2024-11-01", freq="h", inclusive="left")
    return pd.DataFrame({"time": stamps.strftime("%Y-%m-%d %H:%M"), "p": 500.0})


def test_dst_end_with_one_repeated_hour_is_refused_only_for_a_run_that_uses_it():
    got = import_frame(autumn_local_hours(), {"load": {"column": "p"}, "tz": BERLIN}, "load")
    early = got.window("load_w", pd.Timestamp("2024-10-02", tz=BERLIN), pd.Timestamp("2024-10-03", tz=BERLIN))
    assert energy_kwh(early) == pytest.approx(12.0)
    with pytest.raises(InputError, match=r"load.ambiguous: local time 2024-10-27 02:00:00 in Europe/Berlin occurs twice"):
        got.window("load_w", pd.Timestamp("2024-10-27", tz=BERLIN), pd.Timestamp("2024-10-28", tz=BERLIN))
    dropped = import_frame(autumn_local_hours(), {"load": {"column": "p"}, "tz": BERLIN, "ambiguous": "NaT"}, "load")
    day = dropped.window("load_w", pd.Timestamp("2024-10-27", tz=BERLIN), pd.Timestamp("2024-10-28", tz=BERLIN))
    assert len(day) == 25 and energy_kwh(day) == pytest.approx(12.5)  # the dropped hours are filled as a gap
    assert len(dropped.gaps) == 1 and dropped.gaps["missing_s"].iloc[0] == 7200.0


def test_dst_end_with_both_hours_is_inferred_from_the_order():
    local = pd.date_range("2024-10-27", "2024-10-28", freq="h", tz=BERLIN, inclusive="left")
    raw = pd.DataFrame({"time": local.tz_localize(None).strftime("%Y-%m-%d %H:%M"), "p": np.arange(25.0)})
    got = import_frame(raw, {"load": {"column": "p"}, "tz": BERLIN})
    assert len(got.frame) == 25 and list(got.frame["load_w"]) == list(np.arange(25.0)) and got.gaps.empty


def test_dst_start_nonexistent_hour_is_shifted_forward_or_refused():
    naive = pd.date_range("2024-03-31", "2024-04-01", freq="15min", inclusive="left")
    raw = pd.DataFrame({"time": naive.strftime("%Y-%m-%d %H:%M"), "e": 0.1})
    got = import_frame(raw, {"load": {"column": "e", "unit": "kWh"}, "tz": BERLIN})
    assert len(got.frame) == 92 and energy_kwh(got.frame["load_w"]) == pytest.approx(9.2)  # a 23 h day
    with pytest.raises(InputError, match="load.nonexistent: local time 2024-03-31 02:00:00 .* does not exist"):
        import_frame(raw, {"load": {"column": "e", "unit": "kWh"}, "tz": BERLIN, "nonexistent": "raise"}, "load")


def test_offsets_that_change_at_dst_are_read():
    local = pd.date_range("2024-10-27", periods=6, freq="h", tz=BERLIN)
    raw = pd.DataFrame({"time": local.strftime("%Y-%m-%dT%H:%M:%S%z"), "p": 100.0})
    got = import_frame(raw, {"load": {"column": "p"}, "tz": BERLIN})
    assert list(got.frame.index) == list(local) and energy_kwh(got.frame["load_w"]) == pytest.approx(0.6)


def test_long_gap_is_reported_and_a_longer_one_refused(caplog):
    stamps = pd.date_range("2024-05-01", periods=96, freq="15min")
    raw = pd.DataFrame({"time": stamps.strftime("%Y-%m-%d %H:%M"), "p": 200.0}).drop(index=range(20, 44))
    got = import_frame(raw, {"load": {"column": "p"}, "max_gap_h": 8}, "load")
    assert got.gaps["missing_s"].tolist() == [6 * 3600.0]
    start, end = pd.Timestamp("2024-05-01", tz="UTC"), pd.Timestamp("2024-05-02", tz="UTC")
    with caplog.at_level(logging.WARNING, logger="socbal"):
        window = got.window("load_w", start, end)
    assert energy_kwh(window) == pytest.approx(4.8)
    assert (
        "load: 1 gap(s) longer than 3 steps filled (fill = 'interpolate'), the longest 6.00 h from 2024-05-01 05:00"
        in caplog.text
    )
    strict = import_frame(raw, {"load": {"column": "p"}, "max_gap_h": 5}, "load")
    with pytest.raises(InputError, match="load.max_gap_h: a gap of 6.00 h from 2024-05-01 05:00:00\\+00:00"):
        strict.window("load_w", start, end)
    strict.window("load_w", pd.Timestamp("2024-05-01 12:00", tz="UTC"), end)  # a run after the gap is fine


def test_separator_and_decimal_can_be_set(tmp_path):
    path = tmp_path / "logger.dat"
    path.write_text("time|p\n2024-05-01 00:00|1.5\n2024-05-01 01:00|2.5\n")
    got = read_timeseries({"path": path, "load": {"column": "p", "unit": "kW"}, "sep": "|"})
    assert energy_kwh(got.frame["load_w"]) == pytest.approx(4.0)
    path.write_text("time;p\n2024-05-01 00:00;1.234,5\n2024-05-01 01:00;2.000,0\n")
    got = read_timeseries({"path": path, "load": {"column": "p"}})
    assert list(got.frame["load_w"]) == [1234.5, 2000.0]


def test_read_table_keeps_text_columns(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text(german_meter(days=1))
    frame = read_table(path)
    assert list(frame.columns) == ["Datum", "Uhrzeit", "Verbrauch (kWh)"] and frame["Verbrauch (kWh)"].iloc[0] == 0.25
