"""Water-filling (the EMS's share-and-cap step) against an independent reference, over random packs (hypothesis)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from socbal.ems.kernel import REASON_CAPPED, REASON_SHARE, _water_fill
from socbal.jit import python_function

water_fill = python_function(_water_fill)


def reference(request_w, weight, limit_w, member):
    """Water-filling written plainly: cap every member whose share reaches its limit, share the rest by weight, repeat."""
    power = np.zeros(len(weight))
    capped = np.zeros(len(weight), dtype=bool)
    use = weight if weight[member].sum() > 0 else limit_w
    remaining = request_w
    while remaining > 1e-9:
        open_ = member & ~capped
        total = use[open_].sum()
        if total <= 0:
            break
        level = remaining / total
        hit = open_ & (level * use >= limit_w)
        if not hit.any():
            power[open_] = level * use[open_]
            break
        power[hit] = limit_w[hit]
        capped |= hit
        remaining -= limit_w[hit].sum()
    return power, capped


@st.composite
def cases(draw):
    n = draw(st.integers(1, 8))
    weight = np.array([draw(st.one_of(st.just(0.0), st.floats(0, 5000))) for _ in range(n)])
    limit = np.array([draw(st.floats(1, 3000)) for _ in range(n)])
    member = np.array([draw(st.booleans()) for _ in range(n)])
    return draw(st.floats(0, 20_000)), weight, limit, member


@given(cases())
def test_water_fill_matches_the_reference(case):
    request_w, weight, limit, member = case
    n = len(weight)
    power, reason = np.zeros(n), np.full(n, -1, dtype=np.int64)
    served = water_fill(request_w, weight, limit, member, power, reason, np.zeros(n, dtype=bool), np.zeros(n))
    expected, capped = reference(request_w, weight, limit, member)
    assert power == pytest.approx(expected, rel=1e-12, abs=1e-9)
    assert served == pytest.approx(expected[member].sum(), rel=1e-12, abs=1e-9)
    assert np.all(power[~member] == 0.0)
    assert np.all(reason[member & capped] == REASON_CAPPED)
    shared = member & ~capped & (power > 0)
    assert np.all(reason[shared] == REASON_SHARE)
    if not capped.any() and weight[member].sum() > 0 and request_w > 1e-9:  # the common case: the same numbers exactly
        total = 0.0
        for w in weight[member]:  # in pack order, as the kernel sums
            total += w
        assert np.array_equal(power[member], request_w / total * weight[member])
