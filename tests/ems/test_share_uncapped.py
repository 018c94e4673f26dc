"""The EMS's closed-form share (no pack capped) against water-filling: the same numbers bit for bit, or it declines."""

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from socbal.ems.kernel import (
    _EPS_W,
    _TINY_WEIGHT_SUM,
    REASON_CAPPED,
    REASON_NOT_NEEDED,
    _share_uncapped,
    _water_fill,
    allocate_into,
)
from socbal.jit import python_function

from .test_water_fill import cases

share_uncapped = python_function(_share_uncapped)
water_fill = python_function(_water_fill)


@given(cases())
@example((1000.0, np.array([1.0, 1.0]), np.array([500.0, 600.0]), np.array([True, True])))  # a share exactly at its limit caps
@example((1000.0, np.array([1.0, 1.0, 1.0]), np.array([900.0, 900.0, 300.0]), np.array([True, False, True])))  # undone
def test_closed_form_share_is_water_filling_when_no_pack_caps(case):
    request_w, weight, limit, member = case
    n = len(weight)
    weight_sum = 0.0
    for i in range(n):  # in pack order, as the EMS adds them
        if member[i]:
            weight_sum += weight[i]
    if request_w <= _EPS_W or weight_sum < _TINY_WEIGHT_SUM:
        return  # the EMS does not take the closed form there (water-filling rescales tiny weights)
    filled, filled_reason = np.zeros(n), np.full(n, -1, dtype=np.int64)
    served_filled = water_fill(request_w, weight, limit, member, filled, filled_reason, np.zeros(n, dtype=bool), np.zeros(n))
    shared = np.zeros(n)  # as the decision starts: 0 W, members not needed (the others' reasons are left alone)
    shared_reason = np.where(member, REASON_NOT_NEEDED, -1)
    served = share_uncapped(request_w / weight_sum, weight, limit, member, shared, shared_reason)
    if (filled_reason[member] == REASON_CAPPED).any():
        assert served == -1.0  # water-filling decides, from the members as they were
        assert np.all(shared == 0.0)
        assert np.array_equal(shared_reason, np.where(member, REASON_NOT_NEEDED, -1))
    else:
        assert served == served_filled
        assert np.array_equal(shared, filled)
        assert np.array_equal(shared_reason[member], filled_reason[member])
        assert np.all(shared_reason[~member] == -1)


@settings(deadline=None)  # the first example compiles the decision
@given(
    st.lists(st.floats(0, 100), min_size=1, max_size=6),
    st.floats(-6000, 6000),
    st.sampled_from([0, 1, 2]),  # source: pv, pv+ac, ac
)
def test_decision_with_the_closed_form_matches_water_filling_every_eligible_pack(soc, request_w, source):
    """The whole decision (spec rule, one tier): the shares of the eligible packs are water-filling's, exactly."""
    n = len(soc)
    soc_pct = np.array(soc)
    capacity = np.linspace(1000.0, 2500.0, n)
    limit_dis = np.linspace(300.0, 900.0, n)
    limit_chg = np.linspace(400.0, 1200.0, n)
    power, weight, reason = np.zeros(n), np.zeros(n), np.zeros(n, dtype=np.int64)
    served = python_function(allocate_into)(
        soc_pct, capacity, limit_dis, limit_chg, np.zeros(n, dtype=bool), np.zeros(n, dtype=np.int64),
        10.0, 1.0, 0, 2.0, request_w, source, False, 0.0, power, weight, reason,
    )  # fmt: skip
    member = weight > 0.0
    limit = limit_dis if request_w > 0.0 else limit_chg
    expected, expected_reason = np.zeros(n), np.full(n, REASON_NOT_NEEDED, dtype=np.int64)  # as the decision starts
    scratch = np.zeros(n, dtype=bool), np.zeros(n)
    expected_served = water_fill(abs(request_w), weight, limit, member, expected, expected_reason, *scratch)
    if member.any() and request_w != 0.0:
        assert served == expected_served
        assert np.array_equal(np.abs(power[member]), expected[member])
        assert np.array_equal(reason[member], expected_reason[member])
