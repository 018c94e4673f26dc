"""Invariants of the pacing every driver shares (a fake clock, no I/O)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from socbal.drivers.base import Pacer, Pacing

STEPS = st.lists(st.tuples(st.floats(0.0, 3.0), st.floats(-3000, 3000, allow_nan=False)), min_size=1, max_size=60)


@given(STEPS, st.floats(0.0, 5.0), st.floats(0.0, 100.0), st.none() | st.floats(0.5, 10.0))
def test_pacer_sends_only_the_newest_no_faster_than_the_interval(steps, interval_s, deadband_w, keepalive_s):
    clock = [0.0]
    pacer = Pacer(Pacing(min_write_interval_s=interval_s, deadband_w=deadband_w, keepalive_s=keepalive_s), lambda: clock[0])
    sent: list[tuple[float, float]] = []
    newest = None
    for dt_s, setpoint_w in steps:
        clock[0] += dt_s
        pacer.offer(setpoint_w)
        newest = setpoint_w
        value = pacer.due()
        if value is not None:
            refresh = sent and value == sent[-1][1]
            assert value == newest or refresh  # never a stale setpoint, only the newest or a keep-alive of the one in force
            if sent and not refresh:
                assert clock[0] - sent[-1][0] >= interval_s
            pacer.sent(value)
            sent.append((clock[0], value))
    # What is left pending is the newest, or nothing because the one in force is within the deadband of it.
    if pacer.pending_w is not None:
        assert pacer.pending_w == newest
    elif sent and newest is not None:
        last = sent[-1][1]
        same_direction = (newest > 0) == (last > 0) and (newest < 0) == (last < 0)
        assert last == newest or (same_direction and abs(newest - last) < deadband_w)
    assert pacer.writes == len(sent)


def test_a_stop_or_a_new_direction_goes_out_despite_the_deadband():
    clock = [0.0]
    pacer = Pacer(Pacing(min_write_interval_s=0.0, deadband_w=100.0), lambda: clock[0])
    for value in (50.0, 0.0, -30.0):
        pacer.offer(value)
        assert pacer.due() == value
        pacer.sent(value)
    pacer.offer(-80.0)
    assert pacer.due() is None  # same direction, within 100 W
