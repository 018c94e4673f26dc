"""The emulated home stepped on a hand-driven clock (no sockets): the meter's period and latency, the load and PV
profiles over simulated time, the devices' own zero-export mode, their limits and firmware, and faults."""

from __future__ import annotations

import copy

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socbal.emulators.home import EmulatedHome
from socbal.emulators.indevolt import IndevoltEmulator
from socbal.home.scenario import home_scenario_from_dict
from tests.emulators.home_harness import mixed_home

DT_S = 0.125  # exact in binary: the clock lands on whole seconds


class Clock:
    def __init__(self) -> None:
        self.now_s = 0.0

    def __call__(self) -> float:
        return self.now_s


def home_of(raw: dict, speed: float = 1.0) -> tuple[EmulatedHome, Clock]:
    clock = Clock()
    return EmulatedHome(home_scenario_from_dict(raw), speed=speed, clock=clock), clock


def run(home: EmulatedHome, clock: Clock, seconds: float, each=None) -> None:
    for _ in range(round(seconds / DT_S)):
        clock.now_s += DT_S
        home.step(DT_S)
        if each is not None:
            each()


def zendures(n: int = 2, **meter) -> dict:
    """``n`` Zendure devices (no own mode: idle until written), quick dynamics, a 1000 W load."""
    raw = mixed_home(load_w=1000)
    zd = raw["devices"][1]
    raw["devices"] = [{**copy.deepcopy(zd), "id": f"z{k}", "serial": f"SN{k}", "port": 19000 + k} for k in range(n)]
    for dev in raw["devices"]:
        dev["actuator_latency_s"], dev["ramp_w_per_s"] = 0.0, 1e5
    raw["meter"] = {"period_s": 1, "latency_s": 0, **meter}
    return raw


def test_the_meter_shows_the_grid_of_latency_ago_once_per_period():
    home, clock = home_of(zendures(period_s=2, latency_s=1))
    seen: list[tuple[float, float, float]] = []
    run(home, clock, 1.5, lambda: seen.append((clock.now_s, home.grid_w(), home.meter_w())))
    home.devices["z0"].command(500)  # at t = 1.5 s
    run(home, clock, 4.0, lambda: seen.append((clock.now_s, home.grid_w(), home.meter_w())))
    assert all(g == pytest.approx(1000, abs=1) for t, g, _ in seen if t <= 1.5)
    assert all(g == pytest.approx(500, abs=1) for t, g, _ in seen if t >= 1.75)
    # the sample at t = 2 s shows the grid of t = 1 s (before the command); the one at 4 s that of 3 s
    assert all(m == pytest.approx(1000, abs=1) for t, _, m in seen if t < 4.0)
    assert all(m == pytest.approx(500, abs=1) for t, _, m in seen if t >= 4.0)


def test_load_and_device_pv_follow_their_profiles_in_simulated_time():
    raw = zendures(n=1)
    raw["run"] = {"start": "2026-06-01T00:00:00", "step_s": 1, "horizon_h": 24}
    raw["load"] = {"kind": "synthetic-household", "daily_kwh": 12}
    raw["devices"][0]["pv"] = {"kind": "synthetic-clear-sky", "peak_w": 600, "step_s": 900}
    home, clock = home_of(raw, speed=3600.0)  # one wall second = one simulated hour
    scenario = home.scenario
    start, horizon_s = pd.Timestamp("2026-06-01"), 24 * 3600.0
    load = scenario.load.series(start, horizon_s)
    pv = scenario.devices[0].pv.series(start, horizon_s)
    checked = 0
    for _ in range(int(23.5 / DT_S)):
        at = start + pd.Timedelta(seconds=home.sim_time_s)  # the time this step takes its profile values at
        run(home, clock, DT_S)
        snap = home.snapshot()
        assert snap.load_w == pytest.approx(load.asof(at))
        assert snap.ac_output_w["z0"] == pytest.approx(pv.asof(at), abs=1.0)  # an idle device passes its PV on
        assert snap.grid_w == pytest.approx(snap.load_w - snap.ac_output_w["z0"])
        checked += pv.asof(at) > 100
    assert checked > 40 and load.max() > 2 * load.min()  # the day's PV and the load's evening peak were seen


def test_devices_in_their_own_mode_share_the_grid_and_settle_at_zero_import():
    raw = mixed_home(load_w=1200)
    raw["devices"] = [raw["devices"][0], {**raw["devices"][0], "id": "iv2", "port": raw["devices"][0]["port"] + 1}]
    home, clock = home_of(raw)
    grid: list[float] = []
    run(home, clock, 6.0, lambda: grid.append(home.grid_w()))
    assert all(abs(g) < 5 for g in grid[-16:])  # settled, no fight between them
    assert min(grid) > -20  # no overshoot into export
    out = home.snapshot().ac_output_w
    assert out["indevolt"] + out["iv2"] == pytest.approx(1200, abs=5) and min(out.values()) > 400  # both take part


def test_ac_output_limit_and_latency_and_ramp_of_each_device():
    raw = zendures(n=2)
    raw["devices"][0].update(actuator_latency_s=1.0, ramp_w_per_s=200)
    raw["devices"][0]["device"]["ac_output_limit_w"] = 600
    home, clock = home_of(raw)
    home.devices["z0"].command(800)
    home.devices["z1"].command(300)
    run(home, clock, 0.875)
    assert home.snapshot().ac_output_w["z0"] == pytest.approx(0, abs=1)  # still its latency
    assert home.snapshot().ac_output_w["z1"] == pytest.approx(300, abs=1)
    run(home, clock, 1.625)
    assert home.snapshot().ac_output_w["z0"] == pytest.approx(300, abs=30)  # ramping at 200 W/s
    run(home, clock, 2.0)
    assert home.snapshot().ac_output_w["z0"] == pytest.approx(600, abs=1)  # its AC output limit
    assert home.grid_w() == pytest.approx(1000 - 900, abs=2)


@pytest.mark.parametrize(("firmware", "stops"), [("stop-at-first-empty", True), ("spec", False)])
def test_stop_at_first_empty_firmware_stops_the_whole_device_at_its_first_pack_reserve(firmware, stops):
    raw = zendures(n=1)
    dev = raw["devices"][0]
    dev["firmware"] = firmware
    dev["main"]["soc_pct"] = 60
    dev["packs"] = [{"id": "p1", "soc_pct": 10.5, "capacity_wh": 2000, "max_discharge_w": 800}]
    home, clock = home_of(raw, speed=200.0)
    home.devices["z0"].command(600)
    run(home, clock, 3.0)
    state = home.devices["z0"].true_state()
    assert state.pack_soc_pct[1] <= 10.6 and state.pack_soc_pct[0] > 50  # p1 at its reserve, main far above
    assert (abs(state.battery_power_w) < 1) is stops


def test_reserve_on_average_firmware_runs_a_pack_below_the_reserve_while_the_average_is_above():
    raw = mixed_home(load_w=1000)
    raw["devices"] = raw["devices"][:1]  # the Indevolt (the Zendure's own firmware stops at its weakest pack)
    dev = raw["devices"][0]
    dev["firmware"] = "reserve-on-average"
    dev["main"]["soc_pct"] = 30
    dev["packs"] = [{"id": "p1", "soc_pct": 10.5, "capacity_wh": 2000, "max_discharge_w": 800}]
    home, clock = home_of(raw, speed=200.0)
    indevolt = home.emulators["indevolt"]
    assert isinstance(indevolt, IndevoltEmulator)
    assert indevolt.set_point(47005, [4]) and indevolt.set_point(47015, [2, 600, 5])  # real-time: discharge 600 W
    run(home, clock, 3.0)
    state = home.devices["indevolt"].true_state()
    assert state.pack_soc_pct[1] < 9.5 and state.soc_pct > 10  # p1 below the 10 % reserve, the average above
    assert state.battery_power_w > 100


def test_frozen_telemetry_and_ignored_writes_do_not_fool_the_meter():
    home, clock = home_of(zendures(n=2))
    z0 = home.devices["z0"]
    z0.faults.freeze_telemetry = True
    run(home, clock, 0.25)
    z0.command(400)
    run(home, clock, 1.5)
    assert z0.snapshot().battery_power_w == pytest.approx(0, abs=1)  # what it reports
    assert home.meter_w() == pytest.approx(600, abs=2)  # what the meter sees
    home.devices["z1"].faults.ignore_writes = True
    assert not home.devices["z1"].command(300)
    run(home, clock, 1.5)
    assert home.meter_w() == pytest.approx(600, abs=2)


@settings(max_examples=15, deadline=None)
@given(
    commands=st.lists(st.tuples(st.sampled_from(["z0", "z1"]), st.floats(-800, 800), st.integers(1, 12)), min_size=1, max_size=6),
    period_s=st.sampled_from([1, 2, 3]),
    latency_s=st.sampled_from([0, 1, 2]),
)
def test_the_grid_balances_and_the_meter_only_ever_shows_a_past_grid(commands, period_s, latency_s):
    home, clock = home_of(zendures(period_s=period_s, latency_s=latency_s))
    past = {round(home.grid_w(), 6)}
    for dev_id, power_w, steps in commands:
        home.devices[dev_id].command(power_w)
        for _ in range(steps):
            run(home, clock, DT_S)
            snap = home.snapshot()
            assert snap.grid_w == pytest.approx(snap.load_w - sum(snap.ac_output_w.values()), abs=1e-6)
            past.add(round(snap.grid_w, 6))
            assert round(snap.meter_w, 6) in past
