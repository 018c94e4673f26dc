"""Water-filling (the EMS's share-and-cap step) against an independent reference, over random packs (hypothesis)."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from socbal.ems.kernel import REASON_CAPPED, REASON_SHARE, _water_fill
from socbal.jit import python_function

water_fill = python_function(_water_fill)


def reference(request_w, weight, limit_w, member):
    """Water-filling written plainly, in exact arithmetic (fractions: no rounding, no overflow for tiny weights): cap
    every member whose share reaches its limit, share the rest by weight, repeat."""
    n = len(weight)
    power = [Fraction(0)] * n
    capped = np.zeros(n, dtype=bool)
    use = [Fraction(w) for w in (weight if weight[member].sum() > 0 else limit_w)]
    limit = [Fraction(x) for x in limit_w]
    remaining = Fraction(request_w)
    while remaining > Fraction(1e-9):
        open_ = [i for i in range(n) if member[i] and not capped[i]]
        total = sum(use[i] for i in open_)
        if total <= 0:
            break
        level = remaining / total
        hit = [i for i in open_ if level * use[i] >= limit[i]]
        if not hit:
            for i in open_:
                power[i] = level * use[i]
            break
        for i in hit:
            power[i] = limit[i]
            capped[i] = True
            remaining -= limit[i]
    return np.array([float(p) for p in power]), capped


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
    total = 0.0
    for w in weight[member]:  # in pack order, as the kernel sums
        total += w
    if not capped.any() and total >= 2.0**-500 and request_w > 1e-9:  # the common case: the same numbers exactly
        assert np.array_equal(power[member], request_w / total * weight[member])


@pytest.mark.parametrize(
    "weight",
    [[5e-324], [5e-324, 0.0], [5e-324, 1e-320], [1e-310, 3e-310, 2e-310], [5e-324, 1000.0], [2.0**-520, 2.0**-519]],
)
def test_tiny_weights_share_as_their_ratio_says_without_overflow(weight):
    # the level remaining / sum of weights overflowed to inf for denormal weights (and inf x 0 gave NaN)
    weight = np.array(weight)
    n = len(weight)
    limit, member = np.full(n, 1000.0), np.ones(n, dtype=bool)
    for request_w in (0.5, 1500.0):
        power, reason = np.zeros(n), np.full(n, -1, dtype=np.int64)
        with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is rounding, not an error
            served = water_fill(request_w, weight, limit, member, power, reason, np.zeros(n, dtype=bool), np.zeros(n))
        expected, _ = reference(request_w, weight, limit, member)
        assert np.isfinite(power).all() and power == pytest.approx(expected, rel=1e-12, abs=1e-9)
        assert served == pytest.approx(min(request_w, limit[weight > 0].sum()), rel=1e-12)
