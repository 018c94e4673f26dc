"""Run a home scenario: turn it into plain arrays, call the compiled home loop, wrap the records as a result."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pandas as pd

from socbal.device.params import (
    EMS_RESERVE_PCT,
    PARAM_MAX_CHARGE_W,
    PARAM_MAX_DISCHARGE_W,
    DeviceModel,
    device_model,
    pack_matrix,
    refresh_derived,
)
from socbal.device.physics import curve_slopes
from socbal.device.step import DeviceState, initial_state, step_scratch
from socbal.home import kernel as hk
from socbal.home import loop
from socbal.home.decision import settings_vector
from socbal.home.results import HomeResult, build_home_result
from socbal.home.scenario import HomeScenario
from socbal.jit import python_function
from socbal.profiles.holding import held_profile
from socbal.sim import kernel as sk
from socbal.sim.engine import PROGRESS_CHUNK_PACK_STEPS, in_chunks

FIRMWARE_CODES = {"stop-at-first-empty": loop.FW_STOP_AT_FIRST_EMPTY, "reserve-on-average": loop.FW_RESERVE_ON_AVERAGE}


class HomeInputs(NamedTuple):
    """A home scenario as the compiled loop takes it."""

    model: loop.HomeModel
    profiles: loop.HomeProfiles
    clock: sk.Clock
    soc_true0_pct: np.ndarray  # every pack, devices side by side
    soc_est0_pct: np.ndarray


def best_load_share(curve: list[tuple[float, float]]) -> float:
    """The load share (0-1 of its rating) at which a DC-DC curve is most efficient: the highest such point; 1 for a
    curve with no gain from a higher load (its only best point at 0)."""
    top = max(eff for _, eff in curve)
    share = max(load for load, eff in curve if eff == top)
    return min(share, 1.0) if share > 0.0 else 1.0


def home_inputs(scenario: HomeScenario) -> HomeInputs:
    """Turn a home scenario into the loop's fixed inputs (profiles read and held at their own step)."""
    run = scenario.run
    start = pd.Timestamp(run.start)
    horizon_s = run.n_steps * run.step_s
    packs = [p for d in scenario.devices for p in d.all_packs]
    params, curve_load, curve_eff = pack_matrix(packs)  # one matrix, curves padded alike
    count = np.array([len(d.all_packs) for d in scenario.devices], dtype=np.int64)
    first = np.concatenate([[0], np.cumsum(count)[:-1]]).astype(np.int64)
    circuit_ids = [c.id for c in scenario.circuits]
    models = [device_model(d.all_packs, d.device, d.one_device(run).settings) for d in scenario.devices]
    dyn = np.zeros((len(models), loop.N_DYN))
    ems = np.array([m.ems for m in models])
    pv_series = []
    for d, spec in enumerate(scenario.devices):
        dyn[d, loop.DYN_LATENCY_S] = spec.actuator_latency_s
        dyn[d, loop.DYN_RAMP_W_PER_S] = spec.ramp_w_per_s
        dyn[d, loop.DYN_FIRMWARE] = FIRMWARE_CODES.get(spec.firmware, loop.FW_SOCBAL)
        dyn[d, loop.DYN_MIN_WRITE_S] = spec.min_write_interval_s
        dyn[d, loop.DYN_CIRCUIT] = -1 if spec.circuit is None else circuit_ids.index(spec.circuit)
        dyn[d, loop.DYN_RESERVE_PCT] = spec.settings.backup_reserve_pct
        own = params[first[d] : first[d] + count[d]]
        dyn[d, loop.DYN_RATED_DISCHARGE_W] = own[:, PARAM_MAX_DISCHARGE_W].sum()
        dyn[d, loop.DYN_RATED_CHARGE_W] = own[:, PARAM_MAX_CHARGE_W].sum()
        best = np.array([best_load_share(p.dcdc_curve) for p in spec.all_packs])
        dyn[d, loop.DYN_EFFICIENT_DISCHARGE_W] = (best * own[:, PARAM_MAX_DISCHARGE_W]).sum()
        dyn[d, loop.DYN_EFFICIENT_CHARGE_W] = (best * own[:, PARAM_MAX_CHARGE_W]).sum()
        if spec.firmware == "reserve-on-average":
            ems[d, EMS_RESERVE_PCT] = 0.0  # its packs run to empty; the device checks the reserve on the average
        pv_series.append(held_profile(spec.pv.series(start, horizon_s), start, horizon_s, f"devices.{spec.id}.pv", run.step_s))
    pv_w = np.zeros((len(models), max(len(v) for v, _ in pv_series)))
    for d, (values, _) in enumerate(pv_series):
        pv_w[d, : len(values)] = values
    load_w, load_step_s = held_profile(scenario.load.series(start, horizon_s), start, horizon_s, "load", run.step_s)
    model = loop.HomeModel(
        first,
        count,
        params,
        curve_load,
        curve_eff,
        curve_slopes(curve_load, curve_eff),
        np.concatenate([m.priority_rank for m in models]).astype(np.int64),
        ems,
        np.array([m.device for m in models]),
        dyn,
        settings_vector(scenario.home),
        np.array([c.max_w for c in scenario.circuits], dtype=np.float64),
        float(scenario.home.grid_target_w),
        max(1, int(round(scenario.meter.period_s / run.step_s))),
        int(round(scenario.meter.latency_s / run.step_s)),
        float(scenario.meter.stale_after_s),
        np.array([[o.start_s, o.start_s + o.duration_s] for o in scenario.meter.outages], dtype=np.float64).reshape(-1, 2),
    )
    profiles = loop.HomeProfiles(
        np.array(load_w, dtype=np.float64),
        load_step_s,
        pv_w,
        np.array([len(v) for v, _ in pv_series], dtype=np.int64),
        np.array([step for _, step in pv_series], dtype=np.float64),
    )
    soc_true = np.array([p.soc_pct for p in packs])
    soc_est = np.clip(soc_true + np.array([p.soc_estimate_error_pct for p in packs]), 0.0, 100.0)
    return HomeInputs(model, profiles, sk.Clock(run.step_s, run.n_steps, run.steps_per_record), soc_true, soc_est)


def _device_model(model: loop.HomeModel, d: int) -> DeviceModel:
    """Device ``d``'s one-device model (views), for its initial state."""
    a, b = model.first[d], model.first[d] + model.n_packs[d]
    return DeviceModel(
        model.params[a:b], model.curve_load[a:b], model.curve_eff[a:b], model.curve_slope[a:b], model.priority_rank[a:b],
        model.ems[d], model.device[d],
    )  # fmt: skip


def prepare_home(i: HomeInputs) -> tuple[loop.HomeState, loop.HomeScratch, loop.HomeRecords]:
    """The loop's initial state, scratch and empty records; each device's packs start as the one-device loop's do.

    Refills the model's derived parameter columns (the reciprocals the loop multiplies by) in place first, so a
    caller that changed capacities or resistances cannot run on stale ones."""
    model = i.model
    refresh_derived(model.params, model.curve_load, model.curve_eff)
    n_dev = len(model.first)
    n_circuits = len(model.circuit_max_w)
    starts = []
    for d in range(n_dev):
        a, b = model.first[d], model.first[d] + model.n_packs[d]
        starts.append(initial_state(_device_model(model, d), i.soc_true0_pct[a:b], i.soc_est0_pct[a:b]))
    packs = DeviceState(*[np.concatenate([np.asarray(getattr(s, f)) for s in starts]) for f in DeviceState._fields])
    packs = packs._replace(backup_on=np.zeros(n_dev, dtype=np.bool_))
    decision = np.zeros((2, n_dev, hk.N_ST))
    decision[0, :, hk.ST_SINCE_STAGE_S] = hk.NEVER_S
    decision[0, :, hk.ST_SINCE_WRITE_S] = hk.NEVER_S
    live = np.zeros((n_dev, loop.N_LIVE))
    view = python_function(loop.pack_view)  # a few scalar sums once: not worth a compiled entry point
    for d in range(n_dev):
        firmware = int(model.dyn[d, loop.DYN_FIRMWARE])
        view(_device_model(model, d), starts[d], firmware, model.dyn[d, loop.DYN_RESERVE_PCT], live[d])
    state = loop.HomeState(
        packs,
        live,
        np.zeros((n_dev, loop.PENDING)),
        np.zeros((n_dev, loop.PENDING)),
        np.zeros(n_dev, dtype=np.int64),
        decision,
        np.zeros((n_dev + 1, model.latency_steps + 1)),
        np.zeros(loop.N_RUNS),
    )
    hflags, hwork, _, _, circuit_work = python_function(hk.home_scratch)(n_dev, n_circuits)  # plain numpy: no compile
    scratch = loop.HomeScratch(
        step_scratch(len(i.soc_true0_pct)),
        np.zeros((n_dev, hk.N_DEV)),
        np.zeros((4, n_dev)),
        hflags,
        hwork,
        np.zeros((3, n_dev), dtype=np.int64),
        np.concatenate([np.zeros((4, n_circuits)), circuit_work]),
    )
    clock = i.clock
    n_rec = (clock.n_steps + clock.steps_per_record - 1) // clock.steps_per_record
    records = loop.HomeRecords(
        np.zeros((n_rec, len(i.soc_true0_pct), sk.N_PACK_COLUMNS)),
        np.zeros((n_rec, n_dev, sk.N_DEVICE_COLUMNS)),
        np.array([sk.initial_stats(s) for s in starts]),
        np.zeros((n_rec, loop.N_HOME)),
        np.zeros((n_rec, n_dev, loop.N_DROW)),
        np.zeros(loop.N_HSTATS),
    )
    return state, scratch, records


def simulate_home(scenario: HomeScenario, progress: Callable[[int, int], None] | None = None) -> HomeResult:
    """Step the home through time and return its recorded result (``progress(done, total)`` between chunks)."""
    i = home_inputs(scenario)
    state, scratch, records = prepare_home(i)
    n_steps = i.clock.n_steps

    def advance(k_start: int, k_end: int) -> None:
        loop.advance_home(i.model, i.profiles, i.clock, state, scratch, records, k_start, k_end)

    in_chunks(advance, n_steps, len(i.soc_true0_pct), progress, PROGRESS_CHUNK_PACK_STEPS)
    sk.finish(records.pack, n_steps, i.clock.steps_per_record)
    loop.finish_home(records.home, records.devices, n_steps, i.clock.steps_per_record)
    return build_home_result(scenario, i.model.first, i.model.n_packs, records, i.soc_true0_pct, i.soc_est0_pct)
