"""The controller's reading gate (:mod:`socbal.homectl.timing`): never a decision on a meter reading older than a
device's last command plus its latency, nor one that a device in motion has not been read since."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from socbal.homectl.timing import DeviceTiming, reading_to_decide_on, usable_with
from socbal.meters.base import MeterReading

times = st.floats(0.0, 100.0, allow_nan=False)
timings = st.builds(DeviceTiming, read_s=times, settled_s=times, steady=st.booleans())


def readings_at(times_s: list[float]) -> list[MeterReading]:
    return [MeterReading(grid_power_w=0.0, time_s=t) for t in sorted(times_s)]


def test_a_steady_device_read_long_ago_does_not_hold_a_decision_back():
    readings = readings_at([10.0, 11.0, 12.0])
    steady = DeviceTiming(read_s=5.0, settled_s=2.0, steady=True)  # an Indevolt holding its setpoint, read at 5 s
    moving = DeviceTiming(read_s=11.5, settled_s=2.0, steady=False)  # one still ramping, read at 11.5 s
    assert reading_to_decide_on(readings, [steady], decided_on_s=0.0) is readings[-1]
    assert reading_to_decide_on(readings, [steady, moving], decided_on_s=0.0) is readings[1]  # moving: read since
    assert reading_to_decide_on(readings, [steady, moving], decided_on_s=11.0) is None  # 11 s was decided on
    just_commanded = DeviceTiming(read_s=11.8, settled_s=11.5, steady=False)  # its latency ends at 11.5 s
    assert reading_to_decide_on(readings, [just_commanded], decided_on_s=0.0) is None  # 12 s: read before 12 s


@given(st.lists(times, max_size=8), st.lists(timings, max_size=4), times)
def test_the_gate_never_decides_on_a_reading_a_device_may_disagree_with(reading_times, devices, decided_on_s):
    readings = readings_at(reading_times)
    chosen = reading_to_decide_on(readings, devices, decided_on_s)
    usable = [r for r in readings if r.time_s > decided_on_s and all(usable_with(d, r.time_s) for d in devices)]
    if chosen is None:
        assert not usable
        return
    assert chosen.time_s > decided_on_s
    for d in devices:
        assert chosen.time_s >= d.settled_s  # newer than its last command plus its latency
        assert d.read_s >= d.settled_s  # its telemetry is not an echo of the command before
        assert d.steady or d.read_s >= chosen.time_s  # in motion: read since the reading
    assert chosen.time_s == max(u.time_s for u in usable)  # the newest such reading
