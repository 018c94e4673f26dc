"""The compiled time-stepping loop: profiles -> dispatch -> device firmware step -> records.

Plain arrays in and out, bundled in NamedTuples; :mod:`socbal.sim.engine` builds them from a
scenario. The device itself (limits, main unit, EMS, pack physics, estimator) is
:func:`socbal.device.step.firmware_step`; this module adds the household side of the bus
(what reaches the house, the grid and the curtailment) and the recording.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from socbal.device.dispatch import device_request
from socbal.device.params import (
    DEV_AC_CHARGE_LIMIT_W,
    DEV_AC_OUTPUT_LIMIT_W,
    DEV_BACKUP_BAND_PCT,
    DEV_FIXED_OUTPUT_W,
    DEV_MODE,
    DEV_PV_INPUT_LIMIT_W,
    EMS_RESERVE_PCT,
    DeviceModel,
)
from socbal.device.step import DeviceState, StepScratch, firmware_step
from socbal.ems.kernel import total_soc_pct
from socbal.jit import fast_arithmetic, fmax, fmin, ir_inline_kernel, loop_kernel, python_function, vectorised
from socbal.profiles.holding import value_at
from socbal.sim.columns import DEVICE, DEVICE_COLUMNS, PACK, PACK_COLUMNS, SPREAD_THRESHOLDS_PCT, STATS, STATS_COLUMNS

N_PACK_COLUMNS = len(PACK_COLUMNS)
N_DEVICE_COLUMNS = len(DEVICE_COLUMNS)
N_STATS = len(STATS_COLUMNS)
N_THRESHOLDS = len(SPREAD_THRESHOLDS_PCT)
THRESHOLDS = np.array(SPREAD_THRESHOLDS_PCT)

R_SOC_TRUE = PACK["soc_true_pct"]
R_SOC_EST = PACK["soc_est_pct"]
R_SOC_MEAN = PACK["soc_true_mean_pct"]
R_SOC_MIN = PACK["soc_true_min_pct"]
R_SOC_MAX = PACK["soc_true_max_pct"]
R_POWER = PACK["power_w"]
R_DISCHARGE = PACK["discharge_wh"]
R_CHARGE = PACK["charge_wh"]
R_DCDC_LOSS = PACK["dcdc_loss_wh"]
R_I2R_LOSS = PACK["i2r_loss_wh"]
R_STANDBY = PACK["standby_wh"]
R_RESERVE_S = PACK["reserve_standby_s"]
R_MAIN_UNIT = PACK["main_unit_wh"]
R_REASON = PACK["reason_code"]
D_LOAD = DEVICE["load_wh"]
D_PV = DEVICE["pv_wh"]
D_CURTAILED = DEVICE["pv_curtailed_wh"]
D_OUTPUT = DEVICE["ac_output_wh"]
D_EXPORT = DEVICE["export_wh"]
D_IMPORT = DEVICE["grid_import_wh"]
D_GRID_DEVICE = DEVICE["grid_to_device_wh"]
D_UNSERVED = DEVICE["unserved_wh"]
D_MAIN = DEVICE["main_unit_wh"]
D_MAIN_BUS = DEVICE["main_from_bus_wh"]
D_MAIN_BATT = DEVICE["main_from_battery_wh"]
D_DISCHARGE = DEVICE["battery_discharge_wh"]
D_CHARGE = DEVICE["battery_charge_wh"]
D_BATT_UNSERVED = DEVICE["battery_unserved_wh"]
D_STOPPED = DEVICE["stopped_s"]
D_GRID_ON = DEVICE["grid_on_s"]
D_SPREAD_TRUE = DEVICE["spread_true_pct"]
D_SPREAD_EST = DEVICE["spread_est_pct"]
D_TOTAL_SOC = DEVICE["total_soc_true_pct"]
S_MAX_SPREAD_TRUE = STATS["max_spread_true_pct"]
S_MAX_SPREAD_EST = STATS["max_spread_est_pct"]
S_SETTLED_FIRST = STATS["settled_below_5_s"]
S_FIRST_RESERVE = STATS["first_reserve_time_s"]
S_SPREAD_AT_RESERVE = STATS["spread_at_first_reserve_pct"]


class Profiles(NamedTuple):
    """The run's profiles, each held at its own step (see :mod:`socbal.profiles.holding`)."""

    load_w: np.ndarray
    load_step_s: float
    pv_w: np.ndarray
    pv_step_s: float
    grid_on: np.ndarray  # 1 on, 0 off
    grid_step_s: float


class Clock(NamedTuple):
    """Time settings of the loop."""

    step_s: float
    n_steps: int
    steps_per_record: int


class Records(NamedTuple):
    """What the loop records: ``pack[row, pack, PACK column]``, ``device[row, DEVICE column]``, ``stats[STATS]``."""

    pack: np.ndarray
    device: np.ndarray
    stats: np.ndarray


@ir_inline_kernel  # one call site in each loop
def _spreads(soc_true_pct: np.ndarray, soc_est_pct: np.ndarray) -> tuple[float, float]:
    """``(spread_true, spread_est)``: max minus min of each SOC array (same length), in one pass."""
    high_true = low_true = soc_true_pct[0]
    high_est = low_est = soc_est_pct[0]
    for i in range(1, soc_true_pct.shape[0]):
        high_true = fmax(high_true, soc_true_pct[i])
        low_true = fmin(low_true, soc_true_pct[i])
        high_est = fmax(high_est, soc_est_pct[i])
        low_est = fmin(low_est, soc_est_pct[i])
    return high_true - low_true, high_est - low_est


@loop_kernel
@fast_arithmetic
@vectorised  # its EMS's spec weights over 6 packs: 2 % faster vectorised (docs/performance.md)
def advance(
    model: DeviceModel,
    profiles: Profiles,
    clock: Clock,
    state: DeviceState,
    scratch: StepScratch,
    records: Records,
    k_start: int,
    k_end: int,
) -> None:
    """Steps ``k_start`` to ``k_end - 1`` of the time loop: advances ``state`` and fills ``records`` in place.

    Compiled without Numba's reference counting, so the array views and calls in the loop cost
    no atomic operations; it must therefore never allocate.
    """
    device = model.device
    step_s = clock.step_s
    to_wh = step_s / 3600.0
    total_believed_wh = 0.0  # a loop, not .sum(): numpy's sum would compile three functions of its own
    for i in range(state.believed_capacity_wh.shape[0]):
        total_believed_wh += state.believed_capacity_wh[i]
    # The device's settings, read once: the loop's stores (records, state) may alias them for all LLVM knows,
    # so read in the loop they would be loaded again every step.
    mode = np.int64(device[DEV_MODE])  # not int(): its overload compiles a function
    fixed_output_w = device[DEV_FIXED_OUTPUT_W]
    ac_output_limit_w = device[DEV_AC_OUTPUT_LIMIT_W]
    pv_input_limit_w = device[DEV_PV_INPUT_LIMIT_W]
    ac_charge_limit_w = device[DEV_AC_CHARGE_LIMIT_W]
    reserve_pct = model.ems[EMS_RESERVE_PCT]
    backup_band_pct = device[DEV_BACKUP_BAND_PCT]
    pack_rec = records.pack
    dev_rec = records.device
    stats = records.stats
    steps_per_record = clock.steps_per_record
    row = k_start // steps_per_record
    in_row = k_start % steps_per_record  # steps of this row already recorded
    backup_on = state.backup_on[0]

    for k in range(k_start, k_end):
        t = k * step_s
        first_of_row = in_row == 0
        # Values held at a row's last step are written only then (or where this chunk of steps ends).
        last_of_row = in_row == steps_per_record - 1 or k == k_end - 1
        load = value_at(profiles.load_w, profiles.load_step_s, t)
        grid = value_at(profiles.grid_on, profiles.grid_step_s, t) > 0.5
        d = device_request(
            load,
            value_at(profiles.pv_w, profiles.pv_step_s, t),
            grid,
            total_soc_pct(state.soc_est_pct, state.believed_capacity_wh),
            total_believed_wh,
            mode,  # type: ignore[arg-type]  # an np.int64 (see above)
            fixed_output_w,
            ac_output_limit_w,
            pv_input_limit_w,
            ac_charge_limit_w,
            reserve_pct,
            backup_band_pct,
            backup_on,
            step_s,
        )
        backup_on = d.backup  # stored in the state when the steps end (nothing in a step reads it there)
        operating = d.request_w != 0.0 or d.pv_usable_w > 0.0
        f = firmware_step(model, state, scratch, d.request_w, d.source, operating, grid, d.pv_usable_w, step_s)

        # The bus: PV + packs (+ the grid while AC backup charging) = AC output + charging + main unit + curtailed.
        if f.stopped:
            output = 0.0
            grid_in = 0.0
        elif d.backup:  # the grid serves the house; PV goes to the output first, the AC charger makes up the rest
            output = d.pv_to_output_w
            grid_in = fmax(f.charged_w + f.main_from_bus_w + output - d.pv_usable_w - f.discharged_w, 0.0)
        else:
            output = fmin(d.output_target_w, fmax(d.pv_usable_w + f.discharged_w - f.charged_w - f.main_from_bus_w, 0.0))
            grid_in = 0.0
        main_bus = 0.0 if f.stopped else f.main_from_bus_w
        curtailed = fmax(d.pv_usable_w + f.discharged_w + grid_in - output - f.charged_w - main_bus, 0.0)
        export = fmax(output - load, 0.0)
        to_house = fmin(output, load)
        dev_row = dev_rec[row]  # this step's record row (a view)
        dev_row[D_LOAD] += load * to_wh
        dev_row[D_PV] += d.pv_usable_w * to_wh
        dev_row[D_CURTAILED] += curtailed * to_wh
        dev_row[D_OUTPUT] += output * to_wh
        dev_row[D_EXPORT] += export * to_wh
        if grid:
            dev_row[D_IMPORT] += (load - to_house) * to_wh
            dev_row[D_GRID_ON] += step_s
        else:
            dev_row[D_UNSERVED] += (load - to_house) * to_wh
        dev_row[D_GRID_DEVICE] += (grid_in + f.main_from_grid_w) * to_wh
        dev_row[D_MAIN] += (f.main_from_grid_w + main_bus + f.main_from_battery_w) * to_wh
        dev_row[D_MAIN_BUS] += main_bus * to_wh
        dev_row[D_MAIN_BATT] += f.main_from_battery_w * to_wh
        dev_row[D_DISCHARGE] += f.discharged_w * to_wh
        dev_row[D_CHARGE] += f.charged_w * to_wh
        if not d.backup:
            dev_row[D_BATT_UNSERVED] += fmax(d.output_target_w - output, 0.0) * to_wh
        if f.stopped:
            dev_row[D_STOPPED] += step_s

        record_packs(state, scratch, pack_rec[row], first_of_row, last_of_row, step_s)
        spread_true, spread_est = _spreads(state.soc_true_pct, state.soc_est_pct)
        if last_of_row:
            dev_row[D_SPREAD_TRUE] = spread_true
            dev_row[D_SPREAD_EST] = spread_est
            dev_row[D_TOTAL_SOC] = total_soc_pct(state.soc_true_pct, state.capacity_wh)
        update_stats(state, stats, spread_true, spread_est, t + step_s)
        in_row += 1
        if in_row == steps_per_record:
            in_row = 0
            row += 1
    state.backup_on[0] = backup_on


@ir_inline_kernel  # one call site in each loop
def record_packs(
    state: DeviceState, scratch: StepScratch, rows: np.ndarray, first_of_row: bool, last_of_row: bool, step_s: float
) -> None:
    """Add one step of every pack to its record row (``rows[pack, PACK column]``: energies, SOC extremes and means;
    the SOCs and the EMS's reason at the row's end only at its ``last_of_row`` step)."""
    to_wh = step_s / 3600.0
    for i in range(rows.shape[0]):
        row = rows[i]  # this pack's record row (a view)
        bus_w = scratch.bus_w[i]
        soc = state.soc_true_pct[i]
        bus_wh = bus_w * to_wh
        row[R_DISCHARGE] += fmax(bus_wh, 0.0)  # selects, not a branch: the packs of one step go either way
        row[R_CHARGE] -= fmin(bus_wh, 0.0)
        row[R_POWER] += bus_w
        row[R_DCDC_LOSS] += scratch.dcdc_loss_w[i] * to_wh
        row[R_I2R_LOSS] += scratch.i2r_loss_w[i] * to_wh
        row[R_STANDBY] += scratch.standby_w[i] * to_wh
        row[R_MAIN_UNIT] += scratch.main_unit_w[i] * to_wh
        if state.latched[i] and bus_w == 0.0:
            row[R_RESERVE_S] += step_s
        row[R_SOC_MEAN] += soc
        if first_of_row or soc < row[R_SOC_MIN]:
            row[R_SOC_MIN] = soc
        if first_of_row or soc > row[R_SOC_MAX]:
            row[R_SOC_MAX] = soc
        if last_of_row:
            row[R_SOC_TRUE] = soc
            row[R_SOC_EST] = state.soc_est_pct[i]
            row[R_REASON] = scratch.reason[i]


@ir_inline_kernel  # one call site in each loop
def update_stats(state: DeviceState, stats: np.ndarray, spread_true: float, spread_est: float, t_end_s: float) -> None:
    """The run statistics (``STATS_COLUMNS``) after a step that ends at ``t_end_s`` with these SOC spreads (%)."""
    stats[S_MAX_SPREAD_TRUE] = fmax(stats[S_MAX_SPREAD_TRUE], spread_true)
    stats[S_MAX_SPREAD_EST] = fmax(stats[S_MAX_SPREAD_EST], spread_est)
    for j in range(N_THRESHOLDS):  # settled below: since the last step that ended at or above the threshold
        if spread_true >= THRESHOLDS[j]:
            stats[S_SETTLED_FIRST + j] = np.nan
        elif np.isnan(stats[S_SETTLED_FIRST + j]):
            stats[S_SETTLED_FIRST + j] = t_end_s
    if np.isnan(stats[S_FIRST_RESERVE]):
        for i in range(state.latched.shape[0]):  # a loop, not .any(): that would compile a function of its own
            if state.latched[i]:
                stats[S_FIRST_RESERVE] = t_end_s
                stats[S_SPREAD_AT_RESERVE] = spread_true
                break


def initial_stats(state: DeviceState) -> np.ndarray:
    """The run statistics before the first step (spreads, thresholds already met, a pack starting at the reserve)."""
    stats = np.full(N_STATS, np.nan)
    spread0, spread_est0 = python_function(_spreads)(state.soc_true_pct, state.soc_est_pct)
    stats[S_MAX_SPREAD_TRUE] = spread0
    stats[S_MAX_SPREAD_EST] = spread_est0
    stats[S_SETTLED_FIRST : S_SETTLED_FIRST + N_THRESHOLDS][spread0 < THRESHOLDS] = 0.0
    if state.latched.any():
        stats[S_FIRST_RESERVE] = 0.0
        stats[S_SPREAD_AT_RESERVE] = spread0
    return stats


def empty_records(state: DeviceState, clock: Clock) -> Records:
    """Zeroed records for ``clock``'s run, with the initial statistics of ``state``."""
    n = state.energy_wh.shape[0]
    n_rec = (clock.n_steps + clock.steps_per_record - 1) // clock.steps_per_record
    return Records(np.zeros((n_rec, n, N_PACK_COLUMNS)), np.zeros((n_rec, N_DEVICE_COLUMNS)), initial_stats(state))


def finish(pack_rec: np.ndarray, n_steps: int, steps_per_record: int) -> None:
    """Turn the per-row sums of SOC and power into means (in place), once every step has run."""
    steps_in_row = np.minimum(steps_per_record, n_steps - np.arange(pack_rec.shape[0]) * steps_per_record)
    for column in (R_SOC_MEAN, R_POWER):
        pack_rec[:, :, column] /= steps_in_row[:, None]
