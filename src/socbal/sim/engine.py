"""Run a scenario: turn it into plain arrays, call the compiled loop, wrap the records as a result."""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np
import pandas as pd

from socbal.device.dispatch import MODE_CODES
from socbal.ems.decision import priority_ranks
from socbal.ems.kernel import STRATEGY_CODES
from socbal.ems.models import prioritises_low_packs
from socbal.profiles.grid import grid_profile
from socbal.profiles.holding import held_profile
from socbal.scenario import PackSpec, Scenario
from socbal.sim import kernel
from socbal.sim.results import SimulationResult, build_result


def pack_arrays(packs: list[PackSpec]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parameter matrix (rows = packs, columns = ``kernel.PARAM_*``) and padded DC-DC curves."""
    params = np.zeros((len(packs), kernel.N_PARAMS))
    for i, p in enumerate(packs):
        params[i, kernel.PARAM_CAPACITY_WH] = p.usable_capacity_wh
        params[i, kernel.PARAM_MAX_DISCHARGE_W] = p.max_discharge_w
        params[i, kernel.PARAM_MAX_CHARGE_W] = p.max_charge_w
        params[i, kernel.PARAM_STANDBY_W] = p.standby_w
        params[i, kernel.PARAM_RESISTANCE_OHM] = p.internal_resistance_ohm
        params[i, kernel.PARAM_VOLTAGE_V] = p.nominal_voltage_v
        params[i, kernel.PARAM_SENSOR_OFFSET_W] = p.sensor_offset_w
        params[i, kernel.PARAM_SENSOR_GAIN_ERROR] = p.sensor_gain_error
        params[i, kernel.PARAM_SENSOR_DEADBAND_W] = p.sensor_deadband_w
    width = max(len(p.dcdc_curve) for p in packs)
    curve_load = np.zeros((len(packs), width))
    curve_eff = np.zeros((len(packs), width))
    for i, p in enumerate(packs):
        loads = [x for x, _ in p.dcdc_curve]
        effs = [y for _, y in p.dcdc_curve]
        pad = width - len(loads)  # extend past the curve's end, holding its last efficiency
        curve_load[i] = loads + [loads[-1] + k for k in range(1, pad + 1)]
        curve_eff[i] = effs + [effs[-1]] * pad
    return params, curve_load, curve_eff


class KernelInputs(NamedTuple):
    """The arguments of :func:`socbal.sim.kernel.run`, in its order (plain arrays and numbers)."""

    params: np.ndarray
    curve_load: np.ndarray
    curve_eff: np.ndarray
    priority_rank: np.ndarray
    soc_true0_pct: np.ndarray
    soc_est0_pct: np.ndarray
    ems: np.ndarray
    device: np.ndarray
    load_w: np.ndarray
    load_step_s: float
    pv_w: np.ndarray
    pv_step_s: float
    grid_on: np.ndarray
    grid_step_s: float
    step_s: float
    n_steps: int
    steps_per_record: int


#: Pack-steps per chunk when progress is reported (a few hundredths of a second of compiled work).
PROGRESS_CHUNK_PACK_STEPS = 2_000_000


def simulate(scenario: Scenario, progress: Callable[[int, int], None] | None = None) -> SimulationResult:
    """Step the scenario's device through time and return its recorded result.

    With ``progress``, the loop runs in chunks and ``progress(steps_done, n_steps)``
    is called after each; the result is the same.
    """
    inputs = kernel_inputs(scenario)
    if progress is None:
        pack_rec, dev_rec, stats = kernel.run(*inputs)
    else:
        pack_rec, dev_rec, stats = _run_in_chunks(inputs, progress)
    return build_result(scenario, pack_rec, dev_rec, stats, inputs.soc_true0_pct)


def _run_in_chunks(i: KernelInputs, progress: Callable[[int, int], None]):
    """:func:`kernel.run`, one chunk of steps at a time, reporting progress between chunks."""
    state = kernel.prepare(
        i.params, i.curve_load, i.curve_eff, i.soc_true0_pct, i.soc_est0_pct, i.ems, i.n_steps, i.steps_per_record
    )
    chunk = max(1, PROGRESS_CHUNK_PACK_STEPS // len(i.params))
    for k_start in range(0, i.n_steps, chunk):
        k_end = min(k_start + chunk, i.n_steps)
        kernel.advance(
            i.params,
            i.curve_load,
            i.curve_eff,
            i.priority_rank,
            i.ems,
            i.device,
            i.load_w,
            i.load_step_s,
            i.pv_w,
            i.pv_step_s,
            i.grid_on,
            i.grid_step_s,
            i.step_s,
            i.steps_per_record,
            *state,
            k_start,
            k_end,
        )
        progress(k_end, i.n_steps)
    pack_rec, dev_rec, stats = state[4:7]
    kernel.finish(pack_rec, i.n_steps, i.steps_per_record)
    return pack_rec, dev_rec, stats


def kernel_inputs(scenario: Scenario) -> KernelInputs:
    """Turn a scenario into the compiled loop's inputs (profiles read and held at their own step)."""
    packs = scenario.all_packs
    params, curve_load, curve_eff = pack_arrays(packs)
    s = scenario.settings
    ems = np.zeros(kernel.N_EMS)
    ems[kernel.EMS_RESERVE_PCT] = s.backup_reserve_pct
    ems[kernel.EMS_HYSTERESIS_PCT] = s.reserve_hysteresis_pct
    ems[kernel.EMS_STRATEGY] = STRATEGY_CODES[s.strategy]
    ems[kernel.EMS_DROOP_EXPONENT] = s.droop_exponent
    ems[kernel.EMS_LOW_PACKS_FIRST] = float(prioritises_low_packs(s.ems_version))
    ems[kernel.EMS_MIN_MODULE_LOAD_PCT] = s.min_module_load_pct
    d = scenario.device
    device = np.zeros(kernel.N_DEVICE)
    device[kernel.DEV_MODE] = MODE_CODES[d.mode]
    device[kernel.DEV_FIXED_OUTPUT_W] = d.fixed_output_w
    device[kernel.DEV_AC_OUTPUT_LIMIT_W] = d.ac_output_limit_w
    device[kernel.DEV_PV_INPUT_LIMIT_W] = d.pv_input_limit_w
    device[kernel.DEV_AC_CHARGE_LIMIT_W] = d.ac_charge_limit_w
    device[kernel.DEV_AUX_MODULE] = float(d.aux_power_module)
    device[kernel.DEV_STANDBY_W] = d.standby_w
    device[kernel.DEV_ACTIVE_W] = d.active_w
    run = scenario.run
    start = pd.Timestamp(run.start)
    horizon_s = run.n_steps * run.step_s
    load_w, load_step_s = held_profile(scenario.load.series(start, horizon_s), start, horizon_s, "load")
    pv_w, pv_step_s = held_profile(scenario.pv.series(start, horizon_s), start, horizon_s, "pv")
    grid_on, grid_step_s = grid_profile(scenario.grid, start, horizon_s)
    soc_true = np.array([p.soc_pct for p in packs])
    soc_est = np.clip(soc_true + np.array([p.soc_estimate_error_pct for p in packs]), 0.0, 100.0)
    return KernelInputs(
        params,
        curve_load,
        curve_eff,
        priority_ranks([p.id for p in packs], s),
        soc_true,
        soc_est,
        ems,
        device,
        load_w,
        load_step_s,
        pv_w,
        pv_step_s,
        grid_on,
        grid_step_s,
        run.step_s,
        run.n_steps,
        run.steps_per_record,
    )
