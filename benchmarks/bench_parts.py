"""Where a pack-step of the one-device loop goes: prints figures (not a test). Run: python benchmarks/bench_parts.py

Each part of the device step runs alone in a compiled loop of its own on bench_sim's device (main unit + 5 packs),
with a request that swings between discharge and charge (so the packs stay between empty and full), interleaved
with the full loop (bench_sim's scenario) in one process (run with OPENBLAS_NUM_THREADS=1); best CPU time of
--repeats, ns per pack-step:

- full: the whole loop (``socbal.sim.engine.run_loop``: dispatch, firmware step, recording);
- firmware_step: limits, main unit, EMS decision, pack physics, estimators (``socbal.device.step.firmware_step``);
- step_packs: every pack's physics, estimator, BMS flags and reserve latch (``socbal.device.step.step_packs``);
- step_pack: one pack's physics alone (``socbal.device.physics.step_pack``), energy carried from step to step;
- allocate: the EMS decision (``socbal.ems.kernel.allocate_with_scratch``) on fixed limits;
- limits: the discharge limits (``socbal.device.limits.discharge_limit_w``).

The parts overlap (firmware_step holds the next three); what a part costs inside the full loop can differ from
its cost alone (the CPU overlaps independent work), so a part's figure is an upper bound of what removing it saves.
Options: --steps N (steps per timed loop, default 1,000,000), --repeats R (default 5).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
from numba import njit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_sim import scenario  # noqa: E402

from socbal.device.limits import discharge_limit_w  # noqa: E402
from socbal.device.params import (  # noqa: E402
    EMS_DROOP_EXPONENT,
    EMS_HYSTERESIS_PCT,
    EMS_LOW_PACKS_FIRST,
    EMS_MIN_MODULE_LOAD_PCT,
    EMS_RESERVE_PCT,
    EMS_STRATEGY,
    PARAM_CAPACITY_WH,
    PARAM_I2R_PER_W2,
    PARAM_INV_MAX_DISCHARGE_PER_W,
    PARAM_MAX_DISCHARGE_W,
    PARAM_RATED_CELL_W,
    PARAM_STANDBY_W,
)
from socbal.device.physics import step_pack  # noqa: E402
from socbal.device.step import firmware_step, initial_state, step_packs, step_scratch  # noqa: E402
from socbal.ems.kernel import allocate_with_scratch  # noqa: E402
from socbal.sim import engine, kernel  # noqa: E402

OPTIONS = dict(_nrt=False, error_model="numpy")


@njit(**OPTIONS)
def request_w(k: int, total_w: float) -> float:
    """The swinging request (W): ``total_w`` plus a small wobble, discharging for 1024 steps, then charging for 1024."""
    return (total_w + (k & 7)) * (1.0 if (k & 2047) < 1024 else -1.0)


@njit(**OPTIONS)
def loop_firmware_step(model, state, scratch, n_steps, step_s):
    served = 0.0
    for k in range(n_steps):
        served += firmware_step(model, state, scratch, request_w(k, 300.0), 0, True, True, 0.0, step_s).discharged_w
    return served


@njit(**OPTIONS)
def loop_step_packs(model, state, scratch, n_steps, step_s):
    served = 0.0
    for k in range(n_steps):
        for i in range(scratch.power_w.shape[0]):
            scratch.power_w[i] = request_w(k, 50.0)
        served += step_packs(model, state, scratch, 0.0, step_s)[0]
    return served


@njit(**OPTIONS)
def loop_step_pack(model, state, scratch, n_steps, step_s):
    served = 0.0
    p = model.params
    for k in range(n_steps):
        for i in range(p.shape[0]):
            energy_wh, bus_w, _, _, _, _ = step_pack(
                state.energy_wh[i], p[i, PARAM_CAPACITY_WH], request_w(k, 50.0), p[i, PARAM_STANDBY_W], step_s,
                p[i, PARAM_INV_MAX_DISCHARGE_PER_W], model.curve_load[i], model.curve_eff[i], model.curve_slope[i],
                p[i, PARAM_I2R_PER_W2],
            )  # fmt: skip
            state.energy_wh[i] = energy_wh
            served += bus_w
    return served


@njit(**OPTIONS)
def loop_allocate(model, state, scratch, n_steps, step_s):
    served = 0.0
    ems = model.ems
    for k in range(n_steps):
        served += allocate_with_scratch(
            state.soc_est_pct, state.believed_capacity_wh, scratch.limit_dis_w, scratch.limit_chg_w, state.latched,
            model.priority_rank, ems[EMS_RESERVE_PCT], ems[EMS_HYSTERESIS_PCT], int(ems[EMS_STRATEGY]),
            ems[EMS_DROOP_EXPONENT], request_w(k, 300.0), 0, ems[EMS_LOW_PACKS_FIRST] > 0.5, ems[EMS_MIN_MODULE_LOAD_PCT],
            scratch.power_w, scratch.weight, scratch.reason, scratch.eligible, scratch.member, scratch.active,
            scratch.limit, scratch.use, scratch.tier,
        )  # fmt: skip
    return served


@njit(**OPTIONS)
def loop_limits(model, state, scratch, n_steps, step_s):
    total = 0.0
    p = model.params
    reserve = model.ems[EMS_RESERVE_PCT]
    for k in range(n_steps):
        for i in range(p.shape[0]):
            scratch.limit_dis_w[i] = discharge_limit_w(
                state.soc_est_pct[i] + (k & 7), reserve, state.believed_capacity_wh[i], step_s, p[i, PARAM_MAX_DISCHARGE_W],
                p[i, PARAM_INV_MAX_DISCHARGE_PER_W], model.curve_load[i], model.curve_eff[i], model.curve_slope[i],
                p[i, PARAM_I2R_PER_W2], p[i, PARAM_RATED_CELL_W], state.empty[i],
            )  # fmt: skip
        total += scratch.limit_dis_w[0]
    return total


PARTS = {
    "firmware_step": loop_firmware_step,
    "step_packs": loop_step_packs,
    "step_pack": loop_step_pack,
    "allocate": loop_allocate,
    "limits": loop_limits,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    hours = args.steps / 3600.0
    inputs = engine.kernel_inputs(scenario(hours))
    model = inputs.model
    n_packs = model.params.shape[0]

    def fresh():
        state = initial_state(model, inputs.soc_true0_pct, inputs.soc_est0_pct)
        scratch = step_scratch(n_packs)
        scratch.limit_dis_w[:] = model.params[:, PARAM_MAX_DISCHARGE_W]
        scratch.limit_chg_w[:] = model.params[:, PARAM_MAX_DISCHARGE_W]
        return state, scratch

    engine.run_loop(inputs._replace(clock=kernel.Clock(inputs.clock.step_s, 1, 1)))  # compile-cache load
    for run in PARTS.values():  # compile
        run(model, *fresh(), 10, inputs.clock.step_s)
    best = dict.fromkeys(["full", *PARTS], np.inf)
    for _ in range(args.repeats):
        t0 = time.thread_time()
        engine.run_loop(inputs)
        best["full"] = min(best["full"], time.thread_time() - t0)
        for name, run in PARTS.items():
            state, scratch = fresh()
            t0 = time.thread_time()
            run(model, state, scratch, inputs.clock.n_steps, inputs.clock.step_s)
            best[name] = min(best[name], time.thread_time() - t0)
    pack_steps = inputs.clock.n_steps * n_packs
    print(
        f"{inputs.clock.n_steps:,} steps x {n_packs} packs, best of {args.repeats} interleaved, CPU time, ns per pack-step: "
        + ", ".join(f"{name} {1e9 * t / pack_steps:.1f}" for name, t in best.items())
    )


if __name__ == "__main__":
    main()
