"""Run a scenario: turn it into plain arrays, call the compiled loop, wrap the records as a result."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pandas as pd

from socbal.device.params import DeviceModel, device_model
from socbal.device.step import DeviceState, StepScratch, initial_state, step_scratch
from socbal.profiles.grid import grid_profile
from socbal.profiles.holding import held_profile
from socbal.profiles.specs import input_gaps
from socbal.scenario import Scenario
from socbal.sim import kernel
from socbal.sim.results import SimulationResult, build_result


class KernelInputs(NamedTuple):
    """A scenario as the compiled loop takes it (plain arrays and numbers)."""

    model: DeviceModel
    profiles: kernel.Profiles
    clock: kernel.Clock
    soc_true0_pct: np.ndarray
    soc_est0_pct: np.ndarray


#: Pack-steps per chunk when progress is reported (a few hundredths of a second of compiled work).
PROGRESS_CHUNK_PACK_STEPS = 2_000_000


def simulate(scenario: Scenario, progress: Callable[[int, int], None] | None = None) -> SimulationResult:
    """Step the scenario's device through time and return its recorded result.

    With ``progress``, the loop runs in chunks and ``progress(steps_done, n_steps)``
    is called after each; the result is the same.
    """
    inputs = kernel_inputs(scenario)
    result = build_result(scenario, run_loop(inputs, progress), inputs.soc_true0_pct, inputs.soc_est0_pct)
    run = scenario.run
    result.summary["input_gaps"] = input_gaps(scenario.load, scenario.pv, pd.Timestamp(run.start), run.n_steps * run.step_s)
    return result


def prepare_loop(i: KernelInputs) -> tuple[DeviceState, StepScratch, kernel.Records]:
    """The loop's initial state, its scratch and empty records."""
    state = initial_state(i.model, i.soc_true0_pct, i.soc_est0_pct)
    return state, step_scratch(len(i.soc_true0_pct)), kernel.empty_records(state, i.clock)


def run_loop(i: KernelInputs, progress: Callable[[int, int], None] | None = None) -> kernel.Records:
    """Run every step of the loop (in chunks, reporting ``progress(steps_done, n_steps)``, when asked)."""
    state, scratch, records = prepare_loop(i)

    def advance(k_start: int, k_end: int) -> None:
        kernel.advance(i.model, i.profiles, i.clock, state, scratch, records, k_start, k_end)

    in_chunks(advance, i.clock.n_steps, len(i.soc_true0_pct), progress, PROGRESS_CHUNK_PACK_STEPS)
    kernel.finish(records.pack, i.clock.n_steps, i.clock.steps_per_record)
    return records


def in_chunks(
    advance: Callable[[int, int], None],
    n_steps: int,
    n_packs: int,
    progress: Callable[[int, int], None] | None,
    chunk_pack_steps: int,
) -> None:
    """``advance(k_start, k_end)`` over steps 0 to ``n_steps``: in one call without ``progress``, else in chunks of
    about ``chunk_pack_steps`` pack-steps with ``progress(steps_done, n_steps)`` after each."""
    chunk = n_steps if progress is None else max(1, chunk_pack_steps // n_packs)
    for k_start in range(0, n_steps, chunk):
        k_end = min(k_start + chunk, n_steps)
        advance(k_start, k_end)
        if progress is not None:
            progress(k_end, n_steps)


def _writable(values: np.ndarray) -> np.ndarray:
    """A writable float64 array, so every caller compiles the loop for the same array types."""
    return values if values.flags.writeable and values.dtype == np.float64 else np.array(values, dtype=np.float64)


def grid_hold_step_s(scenario: Scenario) -> float:
    """The step (s) to hold the grid profile of outages at: the longest one that every outage starts and
    ends on (a year at the run's 1 s step would be 252 MB of ones), a whole number of the run's steps.

    Only for whole-second steps, where every step time ``k * step_s`` and its division are exact, so
    :func:`socbal.profiles.holding.value_at` reads the same value as from the profile at the run's step.
    """
    run = scenario.run
    if scenario.grid.file is not None or run.step_s != round(run.step_s):
        return run.step_s
    boundaries = [round(hour * 3600.0 / run.step_s) for outage in scenario.grid.outages_h for hour in outage]
    return run.step_s * math.gcd(run.n_steps, *boundaries)


def kernel_inputs(scenario: Scenario) -> KernelInputs:
    """Turn a scenario into the compiled loop's inputs (profiles read and held at their own step)."""
    packs = scenario.all_packs
    run = scenario.run
    start = pd.Timestamp(run.start)
    horizon_s = run.n_steps * run.step_s
    load_w, load_step_s = held_profile(scenario.load.series(start, horizon_s), start, horizon_s, "load", run.step_s)
    pv_w, pv_step_s = held_profile(scenario.pv.series(start, horizon_s), start, horizon_s, "pv", run.step_s)
    grid_on, grid_step_s = grid_profile(scenario.grid, start, horizon_s, grid_hold_step_s(scenario))
    profiles = kernel.Profiles(_writable(load_w), load_step_s, _writable(pv_w), pv_step_s, _writable(grid_on), grid_step_s)
    soc_true = np.array([p.soc_pct for p in packs])
    soc_est = np.clip(soc_true + np.array([p.soc_estimate_error_pct for p in packs]), 0.0, 100.0)
    return KernelInputs(
        device_model(packs, scenario.device, scenario.settings),
        profiles,
        kernel.Clock(run.step_s, run.n_steps, run.steps_per_record),
        soc_true,
        soc_est,
    )
