"""An emulated device's ramp runs from the moment a command took effect (its latency after it came), however long the
step that crossed that moment: a loop stalled past it must not let the device jump by the stall's worth of ramp."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from socbal.emulators.device import Dynamics, FirmwareDevice
from tests.emulators.harness import two_packs

LATENCY_S, RAMP_W_PER_S = 1.0, 400.0


class Clock:
    def __init__(self) -> None:
        self.now_s = 0.0

    def __call__(self) -> float:
        return self.now_s


def stepped(dev: FirmwareDevice, clock: Clock, dt_s: float) -> float:
    """Step ``dev`` by ``dt_s`` on ``clock``; the setpoint in force after it, W (all packs together)."""
    clock.now_s += dt_s
    dev.step(dt_s)
    return dev.setpoint_w


@settings(max_examples=60, deadline=None)
@given(
    firmware=st.sampled_from(["balance", "per-pack"]),
    start_w=st.sampled_from([0.0, 300.0, -300.0]),
    command_w=st.sampled_from([900.0, -900.0, 0.0]),
    before_s=st.floats(0.0, 0.5),
    steps_s=st.lists(st.floats(0.001, 2.5), min_size=1, max_size=6),
)
def test_the_ramp_never_runs_ahead_of_the_time_since_the_command_took_effect(firmware, start_w, command_w, before_s, steps_s):
    clock = Clock()
    dev = FirmwareDevice(
        two_packs(main_soc=60, pack_soc=60),
        Dynamics(latency_s=LATENCY_S, ramp_w_per_s=RAMP_W_PER_S, firmware=firmware),
        clock=clock,
    )

    def command(w: float) -> None:
        if firmware == "per-pack":
            dev.packs.accept_setpoints({0: w / 2, 1: w / 2})
            dev.packs.effective_setpoints(clock.now_s)  # the device takes it in now (as a step right after the write)
        else:
            dev.command(w)

    command(start_w)
    stepped(dev, clock, LATENCY_S + abs(start_w) / RAMP_W_PER_S + 0.1)  # settled at start_w
    assert abs(dev.setpoint_w - start_w) < 1e-6
    stepped(dev, clock, before_s)
    command(command_w)
    effect_s = clock.now_s + LATENCY_S
    for dt_s in steps_s:  # any step may be a stall that crosses the moment the command takes effect
        now_w = stepped(dev, clock, dt_s)
        room_w = RAMP_W_PER_S * max(clock.now_s - effect_s, 0.0)
        assert abs(now_w - start_w) <= room_w + 1e-6, (clock.now_s, effect_s, now_w)
        assert min(start_w, command_w) - 1e-6 <= now_w <= max(start_w, command_w) + 1e-6  # towards it, no overshoot
