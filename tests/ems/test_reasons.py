"""Why each pack gets what it gets: the decision's reason codes against the rules written plainly (hypothesis)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from socbal.ems.kernel import (
    REASON_AC_TARGET_REACHED,
    REASON_AT_RESERVE,
    REASON_CAPPED,
    REASON_FULL,
    REASON_IDLE,
    REASON_NO_LIMIT,
    REASON_NOT_NEEDED,
    REASON_SHARE,
    SOURCE_AC,
    STRATEGY_CODES,
    allocate_into,
)

RESERVE_PCT = 10.0
HYSTERESIS_PCT = 2.0


def expected_reason(soc_pct, latched, limit_w, capacity_wh, request_w, source, total_soc_pct):
    """The rule for one pack, highest precedence first; None where the pack takes part in the share."""
    if request_w == 0.0:
        return REASON_IDLE
    if request_w > 0.0 and (soc_pct <= RESERVE_PCT or (latched and soc_pct < RESERVE_PCT + HYSTERESIS_PCT)):
        return REASON_AT_RESERVE
    if request_w < 0.0 and soc_pct >= 100.0:
        return REASON_FULL
    if request_w < 0.0 and source == SOURCE_AC and total_soc_pct >= RESERVE_PCT:
        return REASON_AC_TARGET_REACHED
    if limit_w <= 0.0 or capacity_wh <= 0.0:
        return REASON_NO_LIMIT
    return None


packs = st.lists(
    st.tuples(
        st.one_of(st.sampled_from([0.0, 10.0, 11.0, 12.0, 100.0]), st.floats(0, 100)),  # SOC, % (the boundaries too)
        st.booleans(),  # latched at the reserve
        st.one_of(st.just(0.0), st.floats(1, 2000)),  # limit in the request's direction, W
        st.sampled_from([0.0, 1000.0, 2500.0]),  # capacity, Wh
    ),
    min_size=1,
    max_size=6,
)


@settings(deadline=None)  # the first example compiles the decision
@given(
    packs,
    st.one_of(st.just(0.0), st.floats(-6000, 6000)),
    st.sampled_from([0, 1, 2]),  # source: pv, pv+ac, ac
    st.sampled_from(["spec", "droop", "reserve-aware", "capacity-proportional", "soc-proportional", "equal"]),
)
def test_every_pack_gets_the_reason_of_the_first_rule_that_applies(pack_list, request_w, source, strategy):
    soc = np.array([p[0] for p in pack_list])
    latched = np.array([p[1] for p in pack_list])
    limit = np.array([p[2] for p in pack_list])
    capacity = np.array([p[3] for p in pack_list])
    n = len(pack_list)
    power, weight, reason = np.zeros(n), np.zeros(n), np.zeros(n, dtype=np.int64)
    served = allocate_into(
        soc, capacity, limit, limit, latched, np.zeros(n, dtype=np.int64), RESERVE_PCT, HYSTERESIS_PCT,
        STRATEGY_CODES[strategy], 2.0, request_w, source, False, 0.0, power, weight, reason,
    )  # fmt: skip
    energy = total_capacity = 0.0
    for i in range(n):  # in pack order, as the decision adds them (a total just at the reserve decides the same)
        energy += soc[i] * capacity[i]
        total_capacity += capacity[i]
    total_soc = energy / total_capacity if total_capacity > 0.0 else 0.0
    for i in range(n):
        rule = expected_reason(soc[i], latched[i], limit[i], capacity[i], request_w, source, total_soc)
        if rule is None:  # takes part: shares, is capped, or was not needed
            assert reason[i] in (REASON_SHARE, REASON_CAPPED, REASON_NOT_NEEDED)
        else:
            assert reason[i] == rule
            assert power[i] == 0.0 and weight[i] == 0.0
    assert abs(served - abs(power).sum()) <= 1e-9 * max(1.0, abs(served))
