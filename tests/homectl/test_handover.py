"""Make-before-break (:mod:`socbal.homectl.handover`): a device the decision lowers keeps covering what a rising
device does not deliver yet, and never more."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socbal.home import kernel
from socbal.home.models import DeviceState
from socbal.homectl.handover import HOLDABLE, make_before_break

SHARE = kernel.REASON_TEXT[kernel.REASON_SHARE]
AT_RESERVE = kernel.REASON_TEXT[kernel.REASON_AT_RESERVE]
TOL_W = 25.0


def state(dev_id: str, last_w: float, measured_w: float, max_w: float = 1500.0, **extra) -> DeviceState:
    extra.setdefault("soc_pct", 50.0)
    return DeviceState(
        id=dev_id,
        capacity_wh=1000.0,
        max_discharge_w=max_w,
        max_charge_w=max_w,
        last_setpoint_w=last_w,
        measured_w=measured_w,
        **extra,
    )


def test_the_outgoing_device_keeps_covering_until_the_incoming_one_delivers():
    marstek, indevolt = state("marstek", 700.0, 700.0), state("indevolt", 0.0, 0.0)
    assert make_before_break([marstek, indevolt], [184.0, 516.0], [SHARE, SHARE], TOL_W) == [700.0, 516.0]
    indevolt = state("indevolt", 516.0, 516.0)  # delivering, raised by 129 W: the Marstek keeps 129 W of its release
    assert make_before_break([marstek, indevolt], [55.0, 645.0], [SHARE, SHARE], TOL_W) == pytest.approx([184.0, 645.0])
    indevolt = state("indevolt", 516.0, 300.0)  # not raised now (the decision counts a lagging one at what it delivers)
    assert make_before_break([marstek, indevolt], [184.0, 516.0], [SHARE, SHARE], TOL_W) == [184.0, 516.0]


def test_no_hold_for_a_device_at_its_reserve_on_a_circuit_or_offline_nor_when_directions_are_mixed():
    indevolt = state("indevolt", 0.0, 0.0)
    for marstek, reason in [
        (state("marstek", 700.0, 700.0), AT_RESERVE),
        (state("marstek", 700.0, 700.0, circuit="c1"), SHARE),
        (state("marstek", 700.0, 700.0, online=False), SHARE),
    ]:
        assert make_before_break([marstek, indevolt], [0.0, 516.0], [reason, SHARE], TOL_W) == [0.0, 516.0]
    charging = state("marstek", 700.0, 700.0)
    assert make_before_break([charging, indevolt], [-100.0, 516.0], [SHARE, SHARE], TOL_W) == [-100.0, 516.0]


def test_charging_is_held_the_same_way():
    marstek, indevolt = state("marstek", -700.0, -700.0), state("indevolt", 0.0, 0.0)
    assert make_before_break([marstek, indevolt], [-200.0, -500.0], [SHARE, SHARE], TOL_W) == [-700.0, -500.0]


powers = st.floats(-2000.0, 2000.0, allow_nan=False)
devices = st.lists(
    st.tuples(
        powers,  # last setpoint
        powers,  # measured
        st.floats(0.0, 2000.0, allow_nan=False),  # limit
        powers,  # the decision's new setpoint
        st.sampled_from(sorted(HOLDABLE) + [AT_RESERVE]),
        st.booleans(),  # online
    ),
    min_size=1,
    max_size=4,
)


@given(devices)
def test_holds_cover_no_more_than_the_shortfall_and_stay_within_old_setpoints_and_limits(rows):
    states = [
        state(f"d{i}", last, measured, max_w=limit, online=online) for i, (last, measured, limit, _, _, online) in enumerate(rows)
    ]
    new = [r[3] for r in rows]
    reasons = [r[4] for r in rows]
    out = make_before_break(states, new, reasons, TOL_W)
    if any(p > 0 for p in new) and any(p < 0 for p in new):
        assert out == new
        return
    sign = 1.0 if any(p > 0 for p in new) else -1.0
    shortfall = sum(  # what of each raise the raised devices do not deliver yet
        max(sign * p - max(sign * s.measured_w, sign * s.last_setpoint_w, 0.0), 0.0)
        for s, p in zip(states, new, strict=True)
        if sign * p > sign * s.last_setpoint_w + TOL_W
    )
    extra = 0.0
    for s, p, q, reason in zip(states, new, out, reasons, strict=True):
        if q == p:
            continue
        assert reason in HOLDABLE and s.online  # only a device that may be held
        assert sign * p < sign * q <= max(min(sign * s.last_setpoint_w, s.max_discharge_w), sign * p) + 1e-6
        extra += sign * (q - p)
    assert extra <= shortfall + 1e-6  # never more than what the rising devices do not deliver yet


def test_a_device_running_out_hands_its_whole_share_over_and_keeps_covering_until_the_next_delivers():
    """The decision gives a device with under handover_lead_s of energy at its share nothing (the incoming one gets
    the whole share, so it starts while the outgoing one still has energy); make-before-break keeps the outgoing one
    at its old setpoint until the incoming one delivers."""
    from socbal.home.decision import decide_home
    from socbal.home.models import HomeAllocateInput, HomeRequest, HomeSettings

    # 2.5 Wh above the reserve: 12.9 s at 700 W, under the 20 s lead; staged on 1 s ago (inside its hold)
    marstek = state("marstek", 700.0, 700.0, soc_pct=10.25, reserve_pct=10.0, staged_on=True, since_stage_change_s=1.0)
    indevolt = state("indevolt", 0.0, 0.0, max_w=2400.0)
    inp = HomeAllocateInput(
        settings=HomeSettings(handover_lead_s=20.0), devices=[marstek, indevolt], request=HomeRequest(discharge_w=700.0)
    )
    d = decide_home(inp)
    assert [x.power_w for x in d.devices] == [0.0, 700.0]
    assert d.devices[0].reason == kernel.REASON_TEXT[kernel.REASON_HANDING_OVER]
    offers = make_before_break(inp.devices, [x.power_w for x in d.devices], [x.reason for x in d.devices], TOL_W)
    assert offers == [700.0, 700.0]  # the Marstek carries on until the Indevolt delivers
