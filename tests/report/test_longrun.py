"""Reports at a year's scale: headline numbers, daily bands, monthly bars and the full-resolution week view."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from socbal.report import as_run, headline, load_run, losses_kwh, run_report
from socbal.report.figures import soc_figure, spread_figure
from socbal.report.longrun import (
    busiest_week_start,
    monthly_energy,
    monthly_reserve_figure,
    soc_daily_figure,
    spread_daily_figure,
    week_figure,
)
from tests.report.test_report import embedded

BUDGET_BYTES = 3_000_000


@pytest.fixture(scope="module")
def year(year_dir):
    return load_run(year_dir)


def test_year_report_fits_the_budget_and_holds_the_long_run_figures(year_report):
    text = year_report.read_text()
    assert year_report.stat().st_size < BUDGET_BYTES
    figures = json.loads(embedded(text, "socbal-figures"))
    assert set(figures) == {
        "fig-soc", "fig-spread", "fig-week", "fig-energy-monthly", "fig-energy-totals", "fig-reserve-monthly", "fig-cycles"
    }  # fmt: skip
    assert "A run of 365 days (35040 recorded intervals)" in text, "the page says how it shows a long run"
    assert 'id="fig-week-from"' in text


def test_daily_band_brackets_the_daily_mean(year):
    fig = soc_daily_figure(year)
    for pack in range(len(year.pack_ids)):
        high, low, mean = (np.asarray(fig.data[3 * pack + k].y, dtype=float) for k in range(3))
        assert len(mean) == 365
        assert np.all(low <= mean + 1e-9) and np.all(mean <= high + 1e-9)
    assert pd.Timestamp(fig.data[0].x[0]) == pd.Timestamp("2026-01-01")


def test_monthly_energy_adds_up_to_the_run_totals(year):
    monthly = monthly_energy(year)
    e = year.summary["energy_kwh"]
    assert list(monthly.index.month) == list(range(1, 13))
    assert monthly["served by the device"].sum() == pytest.approx(e["served_by_device"], rel=1e-9)
    assert monthly["grid import"].sum() == pytest.approx(e["grid_import"] + e["grid_to_device"], rel=1e-9)
    assert monthly["loss DC-DC"].sum() == pytest.approx(e["dcdc_loss"], rel=1e-9)
    assert monthly["loss I²R"].sum() == pytest.approx(e["i2r_loss"], rel=1e-9)
    assert monthly["loss main unit"].sum() == pytest.approx(e["main_unit"], rel=1e-9)


def test_monthly_time_at_reserve_adds_up_to_each_pack(year):
    fig = monthly_reserve_figure(year)
    for trace, pack in zip(fig.data, year.summary["packs"]):
        assert trace.name == pack["id"]
        assert float(np.sum(trace.y)) == pytest.approx(pack["reserve_standby_h"], rel=1e-9)


def test_week_view_keeps_every_interval_and_opens_on_a_week_with_a_daily_cycle(year):
    fig = week_figure(year)
    soc = [t for t in fig.data if t.name in year.pack_ids]
    assert len(soc) == len(year.pack_ids)
    assert all(len(t.y) == len(year.device) for t in soc), "full resolution, nothing thinned"
    assert fig.data[0].dx == 900_000.0  # 15 min in ms: x as start + step
    lo, hi = (pd.Timestamp(v) for v in fig.layout.xaxis.range)
    assert hi - lo == pd.Timedelta(days=7) and lo == busiest_week_start(year)
    # In that week every day the SOC goes up and down by more than 10 points: the daily cycle shows.
    x = pd.Timestamp(fig.data[0].x0) + pd.to_timedelta(np.arange(len(soc[0].y)) * 900, unit="s")
    week = pd.Series(np.asarray(soc[0].y, dtype=float), index=x)[lo : hi - pd.Timedelta(seconds=1)]
    daily_swing = week.groupby(week.index.normalize()).agg(lambda d: d.max() - d.min())
    assert len(daily_swing) == 7 and (daily_swing > 10.0).sum() >= 5


def test_headline_numbers_from_the_recorded_intervals(year):
    dev = year.device
    h = headline(year)
    load = dev["load_wh"].sum()
    from_grid = (dev["grid_import_wh"] + dev["grid_to_device_wh"] + dev["unserved_wh"]).sum()
    assert h["self_sufficiency_pct"] == pytest.approx(100 * (1 - from_grid / load))
    used = dev["pv_wh"].sum() - dev["export_wh"].sum() - dev["pv_curtailed_wh"].sum()
    assert h["self_consumption_pct"] == pytest.approx(100 * used / dev["pv_wh"].sum())
    assert 50.0 < h["round_trip_pct"] < 100.0
    split = losses_kwh(year)
    e = year.summary["energy_kwh"]
    assert split["DC-DC"] + split["I²R"] == pytest.approx(e["conversion_loss"])
    assert split["main unit from the bus"] + split["main unit from its battery"] == pytest.approx(e["main_unit"])
    assert h["losses_kwh"] == pytest.approx(e["conversion_loss"] + e["standby"] + e["main_unit"])


def test_short_run_report_has_headline_and_dated_axes(result):
    page = run_report(result)
    text = page.to_html()
    assert re.search(r"self-sufficiency</span><b>[\d.]+ %", text) and "Losses by cause" in text
    assert "Every one of the" in text
    x = soc_figure(result).data[0].x
    assert pd.Timestamp(x[0]) > pd.Timestamp("2000-01-01"), "calendar dates, not hours since start"


def test_every_reserve_span_is_shaded_even_hundreds(result):
    """The grey 'pack at reserve' shading is a filled trace: 300 separate spans all show."""
    run = as_run(result)
    packs = run.packs.copy()
    times = np.sort(packs["time_s"].unique())
    held = set(times[::2][:300])  # every other recorded interval: separate spans
    packs["reserve_standby_s"] = np.where(packs["time_s"].isin(held), 1.0, 0.0)
    run = type(run)(run.label, packs, run.device, run.summary, run.scenario)
    fig = spread_figure(run, max_points=10_000)
    shade = next(t for t in fig.data if t.name == "pack at reserve")
    y = np.asarray(shade.y, dtype=float) > 0
    assert int(np.sum(np.diff(np.concatenate([[0], y.astype(int)])) == 1)) == min(300, len(times[::2]))


def test_the_daily_and_week_spread_of_a_one_pack_device_say_n_a_instead_of_a_flat_0():
    # The per-day spread band and the week view's spread row drew a flat 0 for a main unit alone, which reads as
    # perfect balance; the other spread outputs already said "n/a (one pack)".
    import socbal

    one = {"run": {"step_s": 300, "horizon_h": 72}, "main": {"id": "main"}, "load": {"kind": "constant", "power_w": 100}}
    run = as_run(socbal.simulate(one))
    daily = spread_daily_figure(run)
    assert not daily.data and "n/a (one pack)" in daily.layout.title.text
    week = week_figure(run)
    assert [trace.name for trace in week.data] == ["main"]  # the SOC, no spread line
    assert any("n/a (one pack)" in note.text for note in week.layout.annotations)
    two = {**one, "packs": [{"id": "p1", "soc_pct": 20}]}
    assert spread_daily_figure(as_run(socbal.simulate(two))).data  # with two packs the band is drawn
