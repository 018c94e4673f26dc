"""Exclusion for not following is counted in time (``fail_safe.follow_timeout_s``), not in decisions."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socbal.homectl.config import FailSafe
from socbal.homectl.devices import FollowWatch

COMMAND_W = 800.0


def first_exclusion(times_s: list[float], delivered_w: list[float], fs: FailSafe) -> float | None:
    """When a watch judging ``COMMAND_W`` against ``delivered_w`` at ``times_s`` first excludes the device."""
    watch = FollowWatch()
    for t, w in zip(times_s, delivered_w, strict=True):
        if watch.judge(COMMAND_W, w, False, fs, t):
            return t
    return None


@settings(max_examples=300, deadline=None)
@given(
    gaps=st.lists(st.floats(0.05, 5.0), min_size=1, max_size=80),
    short=st.lists(st.booleans(), min_size=80, max_size=80),
    timeout_s=st.floats(0.5, 30.0),
)
def test_a_device_is_excluded_once_it_has_been_short_for_the_timeout_and_never_sooner(gaps, short, timeout_s):
    fs = FailSafe(follow_timeout_s=timeout_s)
    times = [sum(gaps[: k + 1]) for k in range(len(gaps))]
    delivered = [0.0 if short[k] else COMMAND_W for k in range(len(gaps))]
    expected = None
    run_start = None
    for t, w in zip(times, delivered):  # the rule, written out: a run of short judgements lasting the timeout
        run_start = (t if run_start is None else run_start) if w == 0.0 else None
        if run_start is not None and t - run_start >= timeout_s:
            expected = t
            break
    assert first_exclusion(times, delivered, fs) == expected


@pytest.mark.parametrize("period_s", [0.2, 0.5, 1.0, 3.0])
def test_faster_decisions_do_not_exclude_sooner(period_s):
    fs = FailSafe(follow_timeout_s=10.0)
    times = [k * period_s for k in range(1, 200)]
    at = first_exclusion(times, [0.0] * len(times), fs)
    assert at is not None and 10.0 <= at - times[0] < 10.0 + period_s + 1e-9


def test_a_delivering_or_near_limit_judgement_restarts_the_clock():
    fs = FailSafe(follow_timeout_s=5.0)
    watch = FollowWatch()
    assert not watch.judge(COMMAND_W, 0.0, False, fs, 0.0)
    assert not watch.judge(COMMAND_W, 0.0, False, fs, 4.0)
    assert not watch.judge(COMMAND_W, 0.0, True, fs, 4.5)  # near its reserve: stopping is expected
    assert not watch.judge(COMMAND_W, 0.0, False, fs, 6.0)  # a new run from 6 s
    assert not watch.judge(COMMAND_W, 0.0, False, fs, 10.9)
    assert watch.judge(COMMAND_W, 0.0, False, fs, 11.0) and watch.excluded(11.0 + fs.exclude_s - 1)
    assert not watch.excluded(11.0 + fs.exclude_s)
