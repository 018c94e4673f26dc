import numpy as np
import pandas as pd
import pytest

from socbal.errors import InputError
from socbal.profiles.timeseries import import_frame, read_table, read_timeseries


def hourly(values, start="2024-05-01 00:00", **columns):
    frame = pd.DataFrame({"time": pd.date_range(start, periods=len(values), freq="h").strftime("%Y-%m-%d %H:%M")})
    frame["load_kw"] = values
    for name, column in columns.items():
        frame[name] = column
    return frame


def write_csv(tmp_path, frame, name="data.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def test_kw_power_becomes_w_on_a_regular_utc_index(tmp_path):
    path = write_csv(tmp_path, hourly([0.5, 1.0, 2.0]))
    got = read_timeseries({"path": path, "load": {"column": "load_kw", "unit": "kW"}})
    assert list(got.frame["load_w"]) == [500.0, 1000.0, 2000.0]
    assert str(got.frame.index.tz) == "UTC" and got.frame.index.freq == pd.Timedelta(hours=1)
    assert got.step_s == 3600 and got.gaps.empty and got.gap_report() == "no gaps"


def test_energy_per_interval_becomes_mean_power():
    raw = pd.DataFrame({"time": pd.date_range("2024-01-01", periods=4, freq="15min"), "e": [0.25, 0.5, 0.0, 1.0]})
    got = import_frame(raw, {"pv": {"column": "e", "unit": "kWh"}})
    assert list(got.frame["pv_w"]) == [1000.0, 2000.0, 0.0, 4000.0]


@pytest.mark.parametrize("step_s", [900.0, 7200.0, 5400.0])
def test_resampling_keeps_energy(step_s):
    raw = hourly([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    got = import_frame(raw, {"load": {"column": "load_kw", "unit": "kW"}, "step_s": step_s})
    assert got.frame.index.freq == pd.Timedelta(seconds=step_s)
    assert got.frame["load_w"].sum() * step_s == pytest.approx(21000.0 * 3600)


def test_end_labels_move_to_interval_start():
    got = import_frame(hourly([1.0, 2.0]), {"load": {"column": "load_kw", "unit": "kW"}, "label": "end"})
    assert got.frame.index[0] == pd.Timestamp("2024-04-30 23:00", tz="UTC")


def test_local_times_are_localised_and_offsets_converted():
    got = import_frame(hourly([1.0, 2.0]), {"load": {"column": "load_kw"}, "tz": "Europe/Berlin"})
    assert got.frame.index[0] == pd.Timestamp("2024-04-30 22:00", tz="UTC")
    raw = pd.DataFrame({"time": ["2024-05-01T00:00+02:00", "2024-05-01T01:00+02:00"], "load_kw": [1, 2]})
    got = import_frame(raw, {"load": {"column": "load_kw"}, "tz": "UTC"})
    assert got.frame.index[0] == pd.Timestamp("2024-04-30 22:00", tz="UTC")


def test_missing_rows_and_empty_cells_are_reported_and_filled():
    raw = hourly([1.0, 2.0, np.nan, 4.0, 5.0, 6.0])
    raw = raw.drop(index=4)
    got = import_frame(raw, {"load": {"column": "load_kw", "unit": "kW"}})
    assert list(got.frame["load_w"]) == [1000.0, 2000.0, 3000.0, 4000.0, 5000.0, 6000.0]
    assert list(got.gaps["start"]) == [pd.Timestamp("2024-05-01 02:00", tz="UTC"), pd.Timestamp("2024-05-01 04:00", tz="UTC")]
    assert list(got.gaps["missing_s"]) == [3600.0, 3600.0]
    assert "load_w: missing from 2024-05-01 02:00:00+00:00" in got.gap_report()
    zero = import_frame(raw, {"load": {"column": "load_kw", "unit": "kW"}, "fill": "zero"})
    assert zero.frame["load_w"].iloc[2] == 0.0
    with pytest.raises(InputError, match="'load_w': 2 gap"):
        import_frame(raw, {"load": {"column": "load_kw"}, "fill": "error"})


def test_grid_availability_words_and_pv_night_readings():
    raw = hourly([1, 1, 1, 1], grid=["on", "OFF", "1", "true"], pv=[-2.0, 100.0, 200.0, 0.0])
    got = import_frame(raw, {"grid_available": "grid", "pv": {"column": "pv"}, "step_s": 7200})
    assert list(got.frame["grid_available"]) == [False, True]
    assert list(got.frame["pv_w"]) == [50.0, 100.0]


def test_parquet_with_a_datetime_index(tmp_path):
    frame = pd.DataFrame({"p": [1.0, 2.0]}, index=pd.date_range("2024-01-01", periods=2, freq="5min", name="time"))
    path = tmp_path / "data.parquet"
    frame.to_parquet(path)
    assert list(read_table(path).columns) == ["time", "p"]
    assert read_timeseries({"path": path, "pv": {"column": "p"}}).step_s == 300


@pytest.mark.parametrize(
    ("raw", "spec", "expected"),
    [
        (hourly([1.0, 2.0]), {"load": {"column": "Load"}}, "column 'Load' is not in the file; columns there: time, load_kw"),
        (hourly(["1.0", "abc"]), {"load": {"column": "load_kw"}}, "column 'load_kw': value 'abc' in row 3 is not a number"),
        (hourly([1.0, -2.0]), {"load": {"column": "load_kw"}}, "column 'load_kw': value -2 W at 2024-05-01 01:00:00+00:00"),
        (hourly([1, 1], g=["on", "maybe"]), {"grid_available": "g"}, "column 'g': value 'maybe' in row 3 is not allowed: one of"),
        (hourly([1.0, 2.0]), {"load": {"column": "load_kw", "unit": "MW"}}, "timeseries.load.unit: value 'MW' is not allowed"),
        (hourly([1.0, 2.0]), {"load": {"column": "load_kw"}, "tz": "Mars/Olympus"}, "timeseries.tz: value 'Mars/Olympus'"),
        (hourly([1.0, 2.0]), {"load": {"column": "load_kw"}, "colour": "red"}, "timeseries.colour: unknown field"),
        (hourly([1.0, 2.0]), {}, "map at least one of pv, load, grid_available"),
        (
            hourly([1.0, 2.0]).assign(time=["2024-05-01", "yesterday"]),
            {"load": {"column": "load_kw"}},
            "value 'yesterday' in row 3 is not a time",
        ),
        (
            hourly([1.0, 2.0, 3.0]).iloc[[0, 2, 1]],
            {"load": {"column": "load_kw"}},
            "stamps are not in order: '2024-05-01 01:00:00+00:00' in row 4 comes after '2024-05-01 02:00:00+00:00'",
        ),
        (
            pd.concat([hourly([1.0, 2.0, 3.0]), hourly([5.0], start="2024-05-01 01:00")]),
            {"load": {"column": "load_kw"}},
            "value '2024-05-01 01:00:00+00:00' occurs twice (rows 3 and 5)",
        ),
    ],
)
def test_bad_input_gives_one_line_naming_column_value_and_rule(raw, spec, expected):
    with pytest.raises(InputError) as err:
        import_frame(raw.reset_index(drop=True), spec)
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_bad_paths(tmp_path):
    with pytest.raises(InputError, match=r"must end in \.csv, \.txt"):
        read_table(tmp_path / "data.xlsx")
    with pytest.raises(InputError, match="not found"):
        read_table(tmp_path / "none.csv")
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(InputError, match=r"^timeseries\.path: file '.*empty\.csv' is empty; allowed: a table"):
        read_table(tmp_path / "empty.csv")


def test_newest_first_is_read_as_oldest_first():
    forward = import_frame(hourly([1.0, 2.0, 3.0, 4.0]), {"load": {"column": "load_kw", "unit": "kW"}}).frame
    backward = import_frame(hourly([1.0, 2.0, 3.0, 4.0]).iloc[::-1], {"load": {"column": "load_kw", "unit": "kW"}}).frame
    pd.testing.assert_frame_equal(forward, backward)
    assert forward["load_w"].iloc[0] == 1000.0


@pytest.mark.parametrize(
    ("text", "expected_w"),
    [
        ('time,load_kw\n2024-05-01 00:00,"0,5"\n2024-05-01 01:00,"1,25"\n', [500.0, 1250.0]),  # quoted decimal comma
        ('time,load_kw\n2024-05-01 00:00,"1,234.5"\n2024-05-01 01:00,"2,000.0"\n', [1_234_500.0, 2_000_000.0]),  # thousands
        ("time,load_kw\n2024-05-01 00:00,0.5\n2024-05-01 01:00,1.25\n", [500.0, 1250.0]),
    ],
)
def test_comma_inside_quotes_is_read_as_the_file_means_it(tmp_path, text, expected_w):
    path = tmp_path / "data.csv"
    path.write_text(text)
    frame = import_frame(read_table(path), {"load": {"column": "load_kw", "unit": "kW"}}).frame
    np.testing.assert_allclose(frame["load_w"].to_numpy(), expected_w)


def test_quoted_values_that_read_both_ways_are_refused_not_guessed(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text('time,load_kw\n2024-05-01 00:00,"1,234"\n2024-05-01 01:00,"2,500"\n')  # 1.234 kW or 1234 kW?
    with pytest.raises(InputError, match=r"value '1,234' in row 2 is not a number"):
        import_frame(read_table(path), {"load": {"column": "load_kw", "unit": "kW"}})


def test_pv_counted_negative_is_refused_not_read_as_zero():
    # generation counted negative (a meter's or HA sensor's sign): it was read as 0 W and simulated a home without PV
    raw = hourly([1, 1, 1, 1], pv=[-1.0, -1200.0, -1500.0, -3.0])
    with pytest.raises(InputError) as err:
        import_frame(raw, {"pv": {"column": "pv"}})
    message = str(err.value)
    assert "column 'pv': value -1200 W at 2024-05-01 01:00:00+00:00 is not allowed" in message
    assert "counted negative" in message and "\n" not in message
    # an inverter's night draw of a few W still reads as 0
    small = import_frame(hourly([1, 1], pv=[-45.0, 300.0]), {"pv": {"column": "pv"}})
    assert list(small.frame["pv_w"]) == [0.0, 300.0]
