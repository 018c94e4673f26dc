"""Invariants of the home decision over random devices, circuits, memory, settings and requests (hypothesis)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socbal.home import kernel
from socbal.home.decision import decide_home, device_matrix, settings_vector
from socbal.home.models import HomeAllocateInput
from socbal.jit import python_function

TOL_W = 1e-6
STRATEGIES = list(kernel.STRATEGY_CODES)


@st.composite
def home_inputs(draw):
    """A random valid home allocate input as a dict."""
    n_circuits = draw(st.integers(0, 2))
    circuits = [{"id": f"c{c}", "max_w": draw(st.floats(0, 5000))} for c in range(n_circuits)]
    devices = []
    for i in range(draw(st.integers(1, 5))):
        soc = draw(st.floats(0, 100))
        max_dis = draw(st.one_of(st.just(0.0), st.floats(0, 3000)))
        max_chg = draw(st.one_of(st.just(0.0), st.floats(0, 3000)))
        last = draw(st.one_of(st.just(0.0), st.floats(-3000, 3000)))
        devices.append(
            {
                "id": f"d{i}",
                "soc_pct": soc,
                "weakest_pack_soc_pct": draw(st.floats(0, soc)),
                "capacity_wh": draw(st.floats(100, 20_000)),
                "reserve_pct": draw(st.floats(5, 50)),
                "max_discharge_w": max_dis,
                "max_charge_w": max_chg,
                "rated_discharge_w": max_dis + draw(st.floats(0, 1000)),
                "rated_charge_w": max_chg + draw(st.floats(0, 1000)),
                "efficient_discharge_w": draw(st.one_of(st.none(), st.floats(0, 3000))),
                "efficient_charge_w": draw(st.one_of(st.none(), st.floats(0, 3000))),
                "online": draw(st.sampled_from([True, True, True, False])),
                "circuit": draw(st.sampled_from([None] + [c["id"] for c in circuits])),
                "measured_w": draw(st.one_of(st.just(last), st.just(0.0), st.floats(-3000, 3000))),
                "min_write_interval_s": draw(st.sampled_from([0.0, 10.0])),
                "staged_on": draw(st.booleans()),
                "since_stage_change_s": draw(st.floats(0, 300)),
                "since_write_s": draw(st.floats(0, 300)),
                "last_setpoint_w": last,
                "last_moving_setpoint_w": last or draw(st.one_of(st.just(0.0), st.floats(-3000, 3000))),
            }
        )
    up = draw(st.floats(20, 100))
    home_settings = {
        "strategy": draw(st.sampled_from(STRATEGIES)),
        "staging": draw(st.sampled_from(["auto", "always-share"])),
        "stage_up_pct": up,
        "stage_down_pct": draw(st.floats(0, up * 0.99)),
        "hold_s": draw(st.sampled_from([0.0, 60.0])),
        "soc_lead_pct": draw(st.floats(0, 20)),
        "handover_lead_s": draw(st.sampled_from([0.0, 300.0])),
        "deadband_w": draw(st.sampled_from([0.0, 10.0, 50.0])),
        "ramp_w_per_s": draw(st.sampled_from([0.0, 50.0, 400.0])),
        "follow_s": draw(st.sampled_from([0.0, 5.0])),
        "follow_tolerance_w": draw(st.sampled_from([0.0, 25.0])),
    }
    key = "discharge_w" if draw(st.booleans()) else "charge_w"
    request = {key: draw(st.one_of(st.just(0.0), st.floats(0, 12_000)))}
    return {
        "settings": home_settings,
        "devices": devices,
        "circuits": circuits,
        "request": request,
        "cycle_s": draw(st.floats(0.5, 20)),
    }


def _decide(raw):
    inp = HomeAllocateInput.model_validate(raw)
    return inp, decide_home(inp)


@settings(max_examples=500, deadline=None)
@given(home_inputs())
def test_balance_direction_limits_circuits_and_reserve(raw):
    inp, d = _decide(raw)
    discharging = inp.request.discharge_w is not None
    requested = abs(inp.request.signed_w)
    # served + unserved = request; served is what the devices' credited powers add up to, never more than asked
    assert d.served_w + d.unserved_w == pytest.approx(requested, abs=TOL_W * max(1.0, requested))
    assert d.served_w <= requested + TOL_W * max(1.0, requested)
    assert sum(x.credited_w for x in d.devices) == pytest.approx(d.served_w, abs=1e-6 * max(1.0, requested))
    plsoc = inp.settings.strategy == "power-limit-soc"
    for dev_in, x in zip(inp.devices, d.devices):
        # one direction per home: every setpoint moves in the request's direction, or is 0
        assert (x.power_w >= 0.0) if discharging else (x.power_w <= 0.0)
        assert x.credited_w <= abs(x.power_w) + TOL_W
        limit = dev_in.max_discharge_w if discharging else dev_in.max_charge_w
        if plsoc:  # the peer baseline commands the rated power
            limit = dev_in.rated_discharge_w if discharging else dev_in.rated_charge_w
        assert abs(x.power_w) <= limit + TOL_W
        if not dev_in.online:
            assert x.power_w == 0.0
        if discharging and x.power_w > 0.0:
            if plsoc:
                assert dev_in.soc_pct > dev_in.reserve_pct  # the peers' rule: the average SOC
            else:
                assert dev_in.usable_wh > 0.0  # never below its weakest pack's reserve
        if not discharging and x.power_w < 0.0:
            assert dev_in.soc_pct < 100.0
    for c in inp.circuits:
        on_circuit = sum(abs(x.power_w) for dev_in, x in zip(inp.devices, d.devices) if dev_in.circuit == c.id)
        assert on_circuit <= c.max_w + 1e-6 * max(1.0, c.max_w)


@settings(max_examples=500, deadline=None)
@given(home_inputs())
def test_demand_is_left_unserved_only_when_no_device_could_take_more(raw):
    inp, d = _decide(raw)
    n_held = sum(x.reason == kernel.REASON_TEXT[kernel.REASON_HELD] for x in d.devices)
    allowance = n_held * inp.settings.deadband_w + 1e-6 * max(1.0, abs(inp.request.signed_w))
    if d.unserved_w <= allowance or inp.settings.strategy == "sequential":
        return  # within the deadband of held setpoints, or the one-at-a-time baseline
    circuit_of = {dev_in.id: dev_in.circuit for dev_in in inp.devices}
    circuit_max = {c.id: c.max_w for c in inp.circuits}
    circuit_load = {c.id: 0.0 for c in inp.circuits}
    for x in d.devices:
        if circuit_of[x.id] is not None:
            circuit_load[circuit_of[x.id]] += abs(x.power_w)
    for x in d.devices:
        # staging never leaves demand unserved that a staged-off device could serve
        assert x.reason != kernel.REASON_TEXT[kernel.REASON_STAGED_OFF]
        c = circuit_of[x.id]
        circuit_full = c is not None and circuit_load[c] >= circuit_max[c] - 1e-6 * max(1.0, circuit_max[c])
        taking_part = x.reason in (
            kernel.REASON_TEXT[kernel.REASON_SHARE],
            kernel.REASON_TEXT[kernel.REASON_CAPPED_DEVICE],
            kernel.REASON_TEXT[kernel.REASON_RAMPING],
            kernel.REASON_TEXT[kernel.REASON_CAPPED_CIRCUIT],
            kernel.REASON_TEXT[kernel.REASON_IDLE],
            kernel.REASON_TEXT[kernel.REASON_STANDING_BY],
            kernel.REASON_TEXT[kernel.REASON_HANDING_OVER],
        )
        if taking_part:  # a device sharing the request is at its limit this cycle, or its circuit is full
            assert abs(x.power_w) >= x.limit_w - 1e-6 * max(1.0, x.limit_w) or circuit_full


@settings(max_examples=200, deadline=None)
@given(home_inputs())
def test_state_out_is_what_was_written(raw):
    inp, d = _decide(raw)
    for dev_in, x in zip(inp.devices, d.devices):
        assert x.last_setpoint_w == x.power_w
        assert x.written == (x.power_w != dev_in.last_setpoint_w)
        assert (x.since_write_s == 0.0) if x.written else (x.since_write_s == dev_in.since_write_s)
        moving = x.power_w if x.power_w != 0.0 else (dev_in.last_setpoint_w if x.written else dev_in.last_moving_setpoint_w)
        assert x.last_moving_setpoint_w == moving  # the direction a device at 0 W last moved in
        changed = x.staged_on != dev_in.staged_on
        assert (x.since_stage_change_s == 0.0) if changed else (x.since_stage_change_s == dev_in.since_stage_change_s)


@settings(max_examples=500, deadline=None)
@given(home_inputs())
def test_socbal_never_commands_a_direction_against_a_device_still_moving_the_old_way(raw):
    """The direction-change interlock: while any online device's last setpoint, its measured power (beyond
    follow_tolerance_w) or its stop less than follow_s ago points against the request, every setpoint is 0."""
    raw["settings"]["strategy"] = "socbal"
    inp, d = _decide(raw)
    sign = 1.0 if inp.request.discharge_w is not None else -1.0  # the request's direction
    s = inp.settings

    def old_way(dev_in) -> bool:
        measured = dev_in.last_setpoint_w if dev_in.measured_w is None else dev_in.measured_w
        recent_stop = dev_in.last_setpoint_w == 0.0 and dev_in.since_write_s < s.follow_s
        return dev_in.online and (
            sign * dev_in.last_setpoint_w < 0.0
            or sign * measured < -s.follow_tolerance_w
            or (recent_stop and sign * dev_in.last_moving_setpoint_w < 0.0)
        )

    if any(old_way(dev_in) for dev_in in inp.devices):
        assert all(x.power_w == 0.0 for x in d.devices)
        assert d.served_w == 0.0
        assert all(x.written == (dev_in.last_setpoint_w != 0.0) for dev_in, x in zip(inp.devices, d.devices))


@settings(max_examples=500, deadline=None)
@given(home_inputs())
def test_socbal_fills_devices_to_their_efficient_power_before_the_next(raw):
    """Charge- and discharge-side staging: from a standstill (no pacing, holds or lagging in play), at most one device
    runs between 0 W and its fill level (efficient power within its rating and limit), except devices running out
    (less than handover_lead_s of energy or room at that share), which share only what the others cannot take."""
    raw["settings"].update(strategy="socbal", staging="auto")
    raw["circuits"] = []
    for dev in raw["devices"]:
        dev.update(circuit=None, last_setpoint_w=0.0, last_moving_setpoint_w=0.0, measured_w=0.0)
    inp, d = _decide(raw)
    discharging = inp.request.discharge_w is not None
    demand = abs(inp.request.signed_w)
    lead_s = inp.settings.handover_lead_s
    partial, out_with_power, others_at_limit = [], [], True
    for dev_in, x in zip(inp.devices, d.devices):
        if discharging:
            rated = dev_in.max_discharge_w if dev_in.rated_discharge_w is None else dev_in.rated_discharge_w
            efficient = rated if dev_in.efficient_discharge_w is None else dev_in.efficient_discharge_w
            energy, limit = dev_in.usable_wh, dev_in.max_discharge_w
        else:
            rated = dev_in.max_charge_w if dev_in.rated_charge_w is None else dev_in.rated_charge_w
            efficient = rated if dev_in.efficient_charge_w is None else dev_in.efficient_charge_w
            energy, limit = dev_in.room_wh, dev_in.max_charge_w
        level = min(efficient, rated, x.limit_w)
        share = min(level, demand)
        running_out = lead_s > 0 and share > 1e-9 and energy * 3600.0 < share * lead_s
        power = abs(x.power_w)
        if running_out:
            if power > 0.0:
                out_with_power.append(x.id)
        else:
            if 1e-6 < power < level - 1e-6:
                partial.append(x.id)
            eligible = dev_in.online and energy > 0.0 and limit > 0.0
            if eligible and power < x.limit_w - 1e-6:
                others_at_limit = False
    assert len(partial) <= 1, (partial, d)
    if out_with_power:  # a device running out gets power only when every other can take no more
        assert others_at_limit, (out_with_power, d)


def _kernel_outputs(raw, scratch):
    """Every output of the compiled decision for ``raw`` with the given scratch (flags, work, order, circuit, circuit_work)."""
    inp = HomeAllocateInput.model_validate(raw)
    dev, state = device_matrix(inp.devices, [c.id for c in inp.circuits])
    circuit_w = np.array([c.max_w for c in inp.circuits], dtype=np.float64)
    n = len(inp.devices)
    out = [np.zeros(n), np.zeros(n, dtype=np.int64), np.zeros(n), np.zeros(n), np.zeros(n), np.zeros_like(state)]
    served = kernel.decide_home_with_scratch(
        dev, state, circuit_w, circuit_w, settings_vector(inp.settings), float(inp.request.signed_w), float(inp.cycle_s),
        *out[:5], out[5], *scratch,
    )  # fmt: skip
    return served, out


@settings(max_examples=200, deadline=None)
@given(home_inputs(), st.integers(0, 2**32 - 1))
def test_the_decision_does_not_depend_on_what_its_scratch_held(raw, seed):
    """Fills with nothing to share return at once and leave their scratch as it was: nothing may read it after."""
    n, n_circuits = len(raw["devices"]), len(raw["circuits"])
    fresh = python_function(kernel.home_scratch)(n, n_circuits)
    rng = np.random.default_rng(seed)
    stale = [rng.random(a.shape) < 0.5 if a.dtype == np.bool_ else rng.uniform(-1e4, 1e4, a.shape) for a in fresh]
    stale[2] = rng.integers(0, n, n)  # order: device indices
    stale[3] = rng.integers(-1, n_circuits, n) if n_circuits else np.full(n, -1)  # circuit
    served, out = _kernel_outputs(raw, fresh)
    served_stale, out_stale = _kernel_outputs(raw, [np.asarray(a, dtype=f.dtype) for a, f in zip(stale, fresh)])
    assert served_stale == served
    for a, b in zip(out_stale, out):
        np.testing.assert_array_equal(a, b)
