"""Energy totals of the live runtime: integration, never decreasing, persisted only forward, published only once committed."""

from __future__ import annotations

import sqlite3
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socbal.runtime.energy import TOTALS, EnergyMeter
from socbal.runtime.store import StateStore


def test_each_reading_is_held_until_the_next_and_split_by_sign():
    meter = EnergyMeter({}, max_gap_s=5.0)
    meter.update(0.0, {"battery": 3600.0, "grid": -1800.0})
    meter.update(2.0, {"battery": -7200.0, "grid": None})  # 3600 W for 2 s out; grid -1800 W for 2 s exported
    meter.update(3.0, {"battery": 0.0, "grid": 900.0})  # -7200 W for 1 s in; grid unknown: nothing
    meter.update(4.0, {"battery": 0.0, "grid": 900.0})  # grid 900 W for 1 s imported
    assert meter.totals["battery_out"] == pytest.approx(2.0 / 1000)
    assert meter.totals["battery_in"] == pytest.approx(2.0 / 1000)
    assert meter.totals["grid_export"] == pytest.approx(1.0 / 1000)
    assert meter.totals["grid_import"] == pytest.approx(0.25 / 1000)


def test_nothing_is_counted_across_a_gap_or_without_a_reading():
    meter = EnergyMeter({"battery_out": 1.5}, max_gap_s=5.0)
    meter.update(0.0, {"battery": 1000.0})
    meter.update(10.0, {"battery": 1000.0})  # 10 s gap > 5 s: unknown
    meter.update(11.0, {})  # 1 s counted, then nothing held
    meter.update(12.0, {"battery": 1000.0})
    assert meter.totals["battery_out"] == pytest.approx(1.5 + 1000.0 / 3.6e6)
    assert "grid_import" not in meter.totals  # never seen: not metered


@given(
    st.lists(
        st.tuples(
            st.floats(0.0, 10.0),
            st.one_of(st.none(), st.floats(-1e5, 1e5)),
            st.one_of(st.none(), st.floats(-1e5, 1e5)),
        ),
        max_size=30,
    )
)
def test_totals_never_decrease_and_net_flow_is_what_went_out_minus_in(steps):
    meter = EnergyMeter({}, max_gap_s=6.0)
    now = 0.0
    before = dict(meter.totals)
    for dt, battery, grid in steps:
        now += dt
        meter.update(now, {"battery": battery, "grid": grid})
        assert all(meter.totals[k] >= before.get(k, 0.0) for k in meter.totals)
        before = dict(meter.totals)
    assert set(meter.totals) <= set(TOTALS)


def test_store_keeps_totals_across_a_restart_never_lowers_them_and_publishes_only_committed(tmp_path):
    path = tmp_path / "state.sqlite"
    store = StateStore(path)
    assert store.load_energy() == {} and store.committed_energy() == {}
    assert store.save_energy({"battery_in": 1.25, "battery_out": 2.5})
    assert store.flush()
    assert store.committed_energy() == {"battery_in": 1.25, "battery_out": 2.5}
    assert store.save_energy({"battery_in": 1.0, "battery_out": 3.0})  # a lower value is not stored
    store.close()
    store = StateStore(path)
    try:
        assert store.load_energy() == {"battery_in": 1.25, "battery_out": 3.0}
        assert store.committed_energy() == {"battery_in": 1.25, "battery_out": 3.0}
    finally:
        store.close()


def test_committed_energy_waits_for_the_commit(tmp_path):
    path = tmp_path / "state.sqlite"
    store = StateStore(path)
    blocker = sqlite3.connect(str(path), isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")  # another writer holds the database: the write is retried
        assert store.save_energy({"battery_out": 5.0})
        time.sleep(0.5)
        assert store.committed_energy() == {} and store.writer.pending == 1
        blocker.execute("COMMIT")
        assert store.flush()
        assert store.committed_energy() == {"battery_out": 5.0}
    finally:
        blocker.close()
        store.close()
