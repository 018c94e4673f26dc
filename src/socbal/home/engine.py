"""Run a home scenario: turn it into plain arrays, call the compiled home loop, wrap the records as a result."""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np
import pandas as pd

from socbal.ems.decision import priority_ranks
from socbal.ems.kernel import STRATEGY_CODES
from socbal.ems.models import prioritises_low_packs
from socbal.home import kernel as hk
from socbal.home import loop
from socbal.home.decision import settings_vector
from socbal.home.results import HomeResult, build_home_result
from socbal.home.scenario import HomeScenario
from socbal.sim import kernel as sk
from socbal.sim.engine import held_profile, pack_arrays

FIRMWARE_CODES = {"stop-at-first-empty": loop.FW_STOP_AT_FIRST_EMPTY, "reserve-on-average": loop.FW_RESERVE_ON_AVERAGE}

#: Pack-steps per chunk when progress is reported.
PROGRESS_CHUNK_PACK_STEPS = 2_000_000


class HomeInputs(NamedTuple):
    """The fixed inputs of :func:`loop.advance_home`, in its order (plain arrays and numbers)."""

    first: np.ndarray
    count: np.ndarray
    params: np.ndarray
    curve_load: np.ndarray
    curve_eff: np.ndarray
    priority_rank: np.ndarray
    ems: np.ndarray
    device: np.ndarray
    dyn: np.ndarray
    load_w: np.ndarray
    load_step_s: float
    pv_w: np.ndarray
    pv_len: np.ndarray
    pv_step_s: np.ndarray
    home_settings: np.ndarray
    circuit_max_w: np.ndarray
    grid_target_w: float
    period_steps: int
    latency_steps: int
    step_s: float
    steps_per_record: int


def home_inputs(scenario: HomeScenario) -> tuple[HomeInputs, np.ndarray, np.ndarray]:
    """The loop's fixed inputs, and every pack's initial true and estimated SOC (%)."""
    run = scenario.run
    start = pd.Timestamp(run.start)
    horizon_s = run.n_steps * run.step_s
    packs = [p for d in scenario.devices for p in d.all_packs]
    params, curve_load, curve_eff = pack_arrays(packs)
    count = np.array([len(d.all_packs) for d in scenario.devices], dtype=np.int64)
    first = np.concatenate([[0], np.cumsum(count)[:-1]]).astype(np.int64)
    n_dev = len(scenario.devices)
    ems = np.zeros((n_dev, sk.N_EMS))
    device = np.zeros((n_dev, sk.N_DEVICE))
    dyn = np.zeros((n_dev, loop.N_DYN))
    circuit_ids = [c.id for c in scenario.circuits]
    ranks = []
    pv_series = []
    for d, spec in enumerate(scenario.devices):
        s = spec.settings
        ems[d, sk.EMS_RESERVE_PCT] = s.backup_reserve_pct
        ems[d, sk.EMS_HYSTERESIS_PCT] = s.reserve_hysteresis_pct
        ems[d, sk.EMS_STRATEGY] = STRATEGY_CODES[spec.ems_strategy]
        ems[d, sk.EMS_DROOP_EXPONENT] = s.droop_exponent
        ems[d, sk.EMS_LOW_PACKS_FIRST] = float(prioritises_low_packs(s.ems_version))
        ems[d, sk.EMS_MIN_MODULE_LOAD_PCT] = s.min_module_load_pct
        dv = spec.device
        device[d, sk.DEV_AC_OUTPUT_LIMIT_W] = dv.ac_output_limit_w
        device[d, sk.DEV_PV_INPUT_LIMIT_W] = dv.pv_input_limit_w
        device[d, sk.DEV_AC_CHARGE_LIMIT_W] = dv.ac_charge_limit_w
        device[d, sk.DEV_AUX_MODULE] = float(dv.aux_power_module)
        device[d, sk.DEV_STANDBY_W] = dv.standby_w
        device[d, sk.DEV_ACTIVE_W] = dv.active_w
        dyn[d, loop.DYN_LATENCY_S] = spec.actuator_latency_s
        dyn[d, loop.DYN_RAMP_W_PER_S] = spec.ramp_w_per_s
        dyn[d, loop.DYN_FIRMWARE] = FIRMWARE_CODES.get(spec.firmware, loop.FW_SOCBAL)
        dyn[d, loop.DYN_MIN_WRITE_S] = spec.min_write_interval_s
        dyn[d, loop.DYN_CIRCUIT] = -1 if spec.circuit is None else circuit_ids.index(spec.circuit)
        ranks.append(priority_ranks([p.id for p in spec.all_packs], s))
        pv_series.append(held_profile(spec.pv.series(start, horizon_s), start, horizon_s, f"devices.{spec.id}.pv"))
    width = max(len(v) for v, _ in pv_series)
    pv_w = np.zeros((n_dev, width))
    for d, (values, _) in enumerate(pv_series):
        pv_w[d, : len(values)] = values
    load_w, load_step_s = held_profile(scenario.load.series(start, horizon_s), start, horizon_s, "load")
    soc_true = np.array([p.soc_pct for p in packs])
    soc_est = np.clip(soc_true + np.array([p.soc_estimate_error_pct for p in packs]), 0.0, 100.0)
    inputs = HomeInputs(
        first,
        count,
        params,
        curve_load,
        curve_eff,
        np.concatenate(ranks).astype(np.int64),
        ems,
        device,
        dyn,
        load_w,
        load_step_s,
        pv_w,
        np.array([len(v) for v, _ in pv_series], dtype=np.int64),
        np.array([step for _, step in pv_series]),
        settings_vector(scenario.home),
        np.array([c.max_w for c in scenario.circuits], dtype=np.float64),
        scenario.home.grid_target_w,
        max(1, int(round(scenario.meter.period_s / run.step_s))),
        int(round(scenario.meter.latency_s / run.step_s)),
        run.step_s,
        run.steps_per_record,
    )
    return inputs, soc_true, soc_est


def prepare_home(i: HomeInputs, soc_true: np.ndarray, soc_est: np.ndarray, n_steps: int) -> tuple:
    """The loop's initial state and empty records, in :func:`loop.advance_home`'s order after its fixed inputs.

    Each device's pack state is made by the one-device :func:`socbal.sim.kernel.prepare`, side by side.
    """
    parts = []
    for d in range(len(i.first)):
        a, b = i.first[d], i.first[d] + i.count[d]
        ems = i.ems[d].copy()
        if i.dyn[d, loop.DYN_FIRMWARE] == loop.FW_RESERVE_ON_AVERAGE:
            ems[sk.EMS_RESERVE_PCT] = 0.0  # its packs run to empty; the device checks the reserve on the average
        parts.append(
            sk.prepare(i.params[a:b], i.curve_load[a:b], i.curve_eff[a:b], soc_true[a:b], soc_est[a:b], ems, n_steps, i.steps_per_record)
        )
    work = np.ascontiguousarray(np.concatenate([p[0] for p in parts], axis=1))
    flags = np.ascontiguousarray(np.concatenate([p[1] for p in parts], axis=1))
    ints = np.ascontiguousarray(np.concatenate([p[2] for p in parts], axis=1))
    pack_rec = np.ascontiguousarray(np.concatenate([p[4] for p in parts], axis=1))
    dev_rec = np.ascontiguousarray(np.stack([p[5] for p in parts], axis=1))
    stats = np.stack([p[6] for p in parts])
    n_dev = len(i.first)
    n_circuits = len(i.circuit_max_w)
    n_rec = pack_rec.shape[0]
    hstate = np.zeros((2, n_dev, hk.N_ST))
    hstate[0, :, hk.ST_SINCE_STAGE_S] = hk.NEVER_S
    hstate[0, :, hk.ST_SINCE_WRITE_S] = hk.NEVER_S
    flags_h, work_h, _, _, circuit_work = hk.home_scratch(n_dev, n_circuits)
    return (
        work,
        flags,
        ints,
        np.zeros(6),
        np.zeros((n_dev, loop.N_LIVE)),
        np.zeros((n_dev, loop.PENDING)),
        np.zeros((n_dev, loop.PENDING)),
        np.zeros(n_dev, dtype=np.int64),
        np.zeros((n_dev, hk.N_DEV)),
        hstate,
        np.zeros((4, n_dev)),
        work_h,
        flags_h,
        np.zeros((3, n_dev), dtype=np.int64),
        np.concatenate([np.zeros((2, n_circuits)), circuit_work]),
        np.zeros((n_dev + 1, i.latency_steps + 1)),
        np.zeros(2),
        pack_rec,
        dev_rec,
        stats,
        np.zeros((n_rec, loop.N_HOME)),
        np.zeros((n_rec, n_dev, loop.N_DROW)),
        np.zeros(loop.N_HSTATS),
    )


def simulate_home(scenario: HomeScenario, progress: Callable[[int, int], None] | None = None) -> HomeResult:
    """Step the home through time and return its recorded result (``progress(done, total)`` between chunks)."""
    inputs, soc_true, soc_est = home_inputs(scenario)
    n_steps = scenario.run.n_steps
    state = prepare_home(inputs, soc_true, soc_est, n_steps)
    chunk = n_steps if progress is None else max(1, PROGRESS_CHUNK_PACK_STEPS // len(inputs.params))
    for k_start in range(0, n_steps, chunk):
        k_end = min(k_start + chunk, n_steps)
        loop.advance_home(*inputs, *state, k_start, k_end)
        if progress is not None:
            progress(k_end, n_steps)
    pack_rec, dev_rec, stats, home_rec, devices_rec, home_stats = state[17:]
    sk.finish(pack_rec, n_steps, inputs.steps_per_record)
    loop.finish_home(home_rec, devices_rec, n_steps, inputs.steps_per_record)
    return build_home_result(scenario, inputs.first, inputs.count, pack_rec, dev_rec, stats, home_rec, devices_rec, home_stats, soc_true)
