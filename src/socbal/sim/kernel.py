"""The compiled time-stepping loop: dispatch -> EMS decision -> pack physics -> estimator -> records.

Plain arrays in and out; :mod:`socbal.sim.engine` builds them from a scenario.
Pack parameters are rows of ``params`` (columns ``PARAM_*``); profiles are held
at their own step (no per-step copy).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from socbal.device.dispatch import device_request
from socbal.device.physics import battery_side_w, bus_limit_for_energy_w, step_pack_and_estimate
from socbal.ems.kernel import SOURCE_AC, SOURCE_PV, SOURCE_PV_AC, allocate_with_scratch, reserve_latched_next, total_soc_pct
from socbal.profiles.holding import value_at
from socbal.sim.columns import DEVICE, DEVICE_COLUMNS, PACK, PACK_COLUMNS, SPREAD_THRESHOLDS_PCT, STATS, STATS_COLUMNS

# Columns of the pack parameter matrix.
PARAM_CAPACITY_WH = 0  # usable capacity
PARAM_MAX_DISCHARGE_W = 1
PARAM_MAX_CHARGE_W = 2
PARAM_STANDBY_W = 3
PARAM_RESISTANCE_OHM = 4
PARAM_VOLTAGE_V = 5
PARAM_SENSOR_OFFSET_W = 6
PARAM_SENSOR_GAIN_ERROR = 7
PARAM_SENSOR_DEADBAND_W = 8
N_PARAMS = 9

# Columns of the device settings vector.
DEV_MODE = 0
DEV_FIXED_OUTPUT_W = 1
DEV_AC_OUTPUT_LIMIT_W = 2
DEV_PV_INPUT_LIMIT_W = 3
DEV_AC_CHARGE_LIMIT_W = 4
DEV_AUX_MODULE = 5
DEV_STANDBY_W = 6
DEV_ACTIVE_W = 7
N_DEVICE = 8

# Columns of the EMS settings vector.
EMS_RESERVE_PCT = 0
EMS_HYSTERESIS_PCT = 1
EMS_STRATEGY = 2
EMS_DROOP_EXPONENT = 3
EMS_LOW_PACKS_FIRST = 4
EMS_MIN_MODULE_LOAD_PCT = 5
N_EMS = 6

# Rows of the engine's working arrays (state and scratch, one column per pack).
W_CAPACITY, W_ENERGY, W_ENERGY_EST, W_SOC_TRUE, W_SOC_EST, W_LIMIT_DIS, W_LIMIT_CHG, W_POWER, W_WEIGHT = range(9)
W_EMS_LIMIT, W_EMS_USE, W_RATED_CELL = 9, 10, 11  # W_RATED_CELL: battery side at rated discharge, W
N_WORK = 12
F_LATCHED, F_ELIGIBLE, F_MEMBER, F_ACTIVE = range(4)
N_FLAGS = 4
I_REASON, I_TIER = range(2)
N_INTS = 2

#: Charge limit near full = (room + own draws) x this, covering conversion loss (efficiency >= 0.8 on the curves).
CHARGE_ROOM_MARGIN = 1.25

N_PACK_COLUMNS = len(PACK_COLUMNS)
N_DEVICE_COLUMNS = len(DEVICE_COLUMNS)
N_STATS = len(STATS_COLUMNS)
N_THRESHOLDS = len(SPREAD_THRESHOLDS_PCT)
THRESHOLDS = np.array(SPREAD_THRESHOLDS_PCT)

R_SOC_TRUE, R_SOC_EST, R_SOC_MEAN, R_SOC_MIN, R_SOC_MAX = (PACK[c] for c in PACK_COLUMNS[:5])
R_POWER, R_DISCHARGE, R_CHARGE, R_LOSS, R_STANDBY, R_RESERVE_S, R_MAIN_UNIT = (PACK[c] for c in PACK_COLUMNS[5:])
(
    D_LOAD,
    D_PV,
    D_CURTAILED,
    D_OUTPUT,
    D_EXPORT,
    D_IMPORT,
    D_GRID_DEVICE,
    D_UNSERVED,
    D_MAIN,
    D_MAIN_BATT,
    D_DISCHARGE,
    D_CHARGE,
    D_BATT_UNSERVED,
    D_GRID_ON,
    D_SPREAD_TRUE,
    D_SPREAD_EST,
    D_TOTAL_SOC,
) = (DEVICE[c] for c in DEVICE_COLUMNS)
S_MAX_SPREAD_TRUE = STATS["max_spread_true_pct"]
S_MAX_SPREAD_EST = STATS["max_spread_est_pct"]
S_BELOW_FIRST = STATS["time_to_spread_below_5_s"]
S_FIRST_RESERVE = STATS["first_reserve_time_s"]
S_SPREAD_AT_RESERVE = STATS["spread_at_first_reserve_pct"]


@njit(cache=True, _nrt=False, inline="always")
def _spread(values: np.ndarray) -> float:
    """Max minus min of ``values``."""
    high = values[0]
    low = values[0]
    for i in range(1, values.shape[0]):
        high = max(high, values[i])
        low = min(low, values[i])
    return high - low


@njit(cache=True, _nrt=False, error_model="numpy")
def advance(
    params: np.ndarray,
    curve_load: np.ndarray,
    curve_eff: np.ndarray,
    priority_rank: np.ndarray,
    ems: np.ndarray,
    device: np.ndarray,
    load_w: np.ndarray,
    load_step_s: float,
    pv_w: np.ndarray,
    pv_step_s: float,
    grid_on: np.ndarray,
    grid_step_s: float,
    step_s: float,
    steps_per_record: int,
    work: np.ndarray,
    flags: np.ndarray,
    ints: np.ndarray,
    out: np.ndarray,
    pack_rec: np.ndarray,
    dev_rec: np.ndarray,
    stats: np.ndarray,
    backup_on: np.ndarray,
    k_start: int,
    k_end: int,
) -> None:
    """Steps ``k_start`` to ``k_end - 1`` of the time loop: advances the state rows of ``work`` and fills the
    records in place (the state made by :func:`prepare`; :func:`run` calls it once for all steps).

    Compiled without Numba's reference counting (``_nrt=False``), so the array views
    and calls in the loop cost no atomic operations; it must therefore never allocate.
    """
    n = params.shape[0]
    capacity = work[W_CAPACITY]
    total_capacity = capacity.sum()
    energy = work[W_ENERGY]
    energy_est = work[W_ENERGY_EST]
    soc_true = work[W_SOC_TRUE]
    soc_est = work[W_SOC_EST]
    limit_dis = work[W_LIMIT_DIS]
    limit_chg = work[W_LIMIT_CHG]
    power = work[W_POWER]
    weight = work[W_WEIGHT]
    limit = work[W_EMS_LIMIT]
    use = work[W_EMS_USE]
    rated_cell = work[W_RATED_CELL]
    latched = flags[F_LATCHED]
    eligible = flags[F_ELIGIBLE]
    member = flags[F_MEMBER]
    active = flags[F_ACTIVE]
    reason = ints[I_REASON]
    tier = ints[I_TIER]
    to_wh = step_s / 3600.0
    reserve = ems[EMS_RESERVE_PCT]
    hysteresis = ems[EMS_HYSTERESIS_PCT]

    for k in range(k_start, k_end):
        t = k * step_s
        row = k // steps_per_record
        first_of_row = k % steps_per_record == 0
        load = value_at(load_w, load_step_s, t)
        grid = value_at(grid_on, grid_step_s, t) > 0.5
        request_w, backup, pv_usable, pv_to_out = device_request(
            load,
            value_at(pv_w, pv_step_s, t),
            grid,
            total_soc_pct(soc_est, capacity),
            total_capacity,
            int(device[DEV_MODE]),
            device[DEV_FIXED_OUTPUT_W],
            device[DEV_AC_OUTPUT_LIMIT_W],
            device[DEV_PV_INPUT_LIMIT_W],
            device[DEV_AC_CHARGE_LIMIT_W],
            reserve,
            hysteresis,
            backup_on[0],
            step_s,
        )
        backup_on[0] = backup
        pv_surplus = pv_usable - pv_to_out

        # What each pack may do this step: DC-DC limit, and never past the reserve or 100 % (as estimated).
        # The EMS reads only the limit in the request's direction, so only that one is computed.
        for i in range(n):
            if request_w > 0.0:
                above_reserve_wh = (soc_est[i] - reserve) / 100.0 * capacity[i]
                limit_dis[i] = bus_limit_for_energy_w(
                    above_reserve_wh,
                    step_s,
                    params[i, PARAM_MAX_DISCHARGE_W],
                    curve_load[i],
                    curve_eff[i],
                    params[i, PARAM_RESISTANCE_OHM],
                    params[i, PARAM_VOLTAGE_V],
                    rated_cell[i],
                )
            else:
                # Room to 100 % plus what the pack itself draws meanwhile (its standby; the main unit's own
                # consumption on the main battery), with a margin for conversion loss: the cells, not this
                # estimate, stop the charge at full (step_pack), so the pack can reach full and recalibrate.
                draws_w = params[i, PARAM_STANDBY_W] + (device[DEV_ACTIVE_W] if i == 0 else 0.0)
                room_w = (100.0 - soc_est[i]) / 100.0 * capacity[i] * 3600.0 / step_s
                limit_chg[i] = min(params[i, PARAM_MAX_CHARGE_W], (room_w + draws_w) * CHARGE_ROOM_MARGIN)
        source = SOURCE_PV
        if backup:
            source = SOURCE_PV_AC if pv_surplus > 0.0 else SOURCE_AC
        served = allocate_with_scratch(
            soc_est,
            capacity,
            limit_dis,
            limit_chg,
            latched,
            priority_rank,
            reserve,
            hysteresis,
            int(ems[EMS_STRATEGY]),
            ems[EMS_DROOP_EXPONENT],
            request_w,
            source,
            ems[EMS_LOW_PACKS_FIRST] > 0.5,
            ems[EMS_MIN_MODULE_LOAD_PCT],
            power,
            weight,
            reason,
            eligible,
            member,
            active,
            limit,
            use,
            tier,
        )

        # Main unit's own consumption: from the grid through the aux module when it can, else from its battery.
        operating = served > 0.0 or pv_usable > 0.0
        main_w = device[DEV_ACTIVE_W] if operating else device[DEV_STANDBY_W]
        main_from_grid = main_w if (device[DEV_AUX_MODULE] > 0.5 and grid) else 0.0
        main_from_battery = main_w - main_from_grid

        discharged = 0.0
        charged = 0.0
        for i in range(n):
            rated = params[i, PARAM_MAX_DISCHARGE_W] if power[i] > 0.0 else params[i, PARAM_MAX_CHARGE_W]
            standby = params[i, PARAM_STANDBY_W] + (main_from_battery if i == 0 else 0.0)
            step_pack_and_estimate(
                energy[i],
                energy_est[i],
                capacity[i],
                power[i],
                standby,
                step_s,
                rated,
                curve_load[i],
                curve_eff[i],
                params[i, PARAM_RESISTANCE_OHM],
                params[i, PARAM_VOLTAGE_V],
                params[i, PARAM_SENSOR_OFFSET_W],
                params[i, PARAM_SENSOR_GAIN_ERROR],
                params[i, PARAM_SENSOR_DEADBAND_W],
                out,
            )
            if i == 0:  # an empty main battery cannot feed the main unit: it gets what is there
                main_from_battery = max(out[4] - params[i, PARAM_STANDBY_W], 0.0)
            energy[i] = out[0]
            energy_est[i] = out[5]
            bus_w = out[1]
            soc_true[i] = 100.0 * energy[i] / capacity[i]
            soc_est[i] = 100.0 * energy_est[i] / capacity[i]
            latched[i] = reserve_latched_next(soc_est[i], latched[i], reserve, hysteresis)

            if bus_w > 0.0:
                discharged += bus_w
                pack_rec[row, i, R_DISCHARGE] += bus_w * to_wh
            else:
                charged -= bus_w
                pack_rec[row, i, R_CHARGE] -= bus_w * to_wh
            pack_rec[row, i, R_POWER] += bus_w
            pack_rec[row, i, R_LOSS] += out[3] * to_wh
            main_part = main_from_battery if i == 0 else 0.0
            pack_rec[row, i, R_STANDBY] += (out[4] - main_part) * to_wh
            pack_rec[row, i, R_MAIN_UNIT] += main_part * to_wh
            if latched[i]:
                pack_rec[row, i, R_RESERVE_S] += step_s
            pack_rec[row, i, R_SOC_MEAN] += soc_true[i]
            if first_of_row or soc_true[i] < pack_rec[row, i, R_SOC_MIN]:
                pack_rec[row, i, R_SOC_MIN] = soc_true[i]
            if first_of_row or soc_true[i] > pack_rec[row, i, R_SOC_MAX]:
                pack_rec[row, i, R_SOC_MAX] = soc_true[i]
            pack_rec[row, i, R_SOC_TRUE] = soc_true[i]
            pack_rec[row, i, R_SOC_EST] = soc_est[i]

        # Device flows; the packs may deliver or take less than requested (cells empty or full).
        pv_charge = min(charged, pv_surplus)
        grid_charge = charged - pv_charge  # only in backup charging
        output = pv_to_out + discharged
        pv_used = pv_to_out + pv_charge
        export = max(output - load, 0.0)
        to_house = min(output, load)
        dev_rec[row, D_LOAD] += load * to_wh
        dev_rec[row, D_PV] += pv_usable * to_wh
        dev_rec[row, D_CURTAILED] += (pv_usable - pv_used) * to_wh
        dev_rec[row, D_OUTPUT] += output * to_wh
        dev_rec[row, D_EXPORT] += export * to_wh
        if grid:
            dev_rec[row, D_IMPORT] += (load - to_house) * to_wh
            dev_rec[row, D_GRID_ON] += step_s
        else:
            dev_rec[row, D_UNSERVED] += (load - to_house) * to_wh
        dev_rec[row, D_GRID_DEVICE] += (grid_charge + main_from_grid) * to_wh
        dev_rec[row, D_MAIN] += (main_from_grid + main_from_battery) * to_wh
        dev_rec[row, D_MAIN_BATT] += main_from_battery * to_wh
        dev_rec[row, D_DISCHARGE] += discharged * to_wh
        dev_rec[row, D_CHARGE] += charged * to_wh
        dev_rec[row, D_BATT_UNSERVED] += max(request_w - discharged, 0.0) * to_wh

        spread_true = _spread(soc_true)
        spread_est = _spread(soc_est)
        dev_rec[row, D_SPREAD_TRUE] = spread_true
        dev_rec[row, D_SPREAD_EST] = spread_est
        dev_rec[row, D_TOTAL_SOC] = total_soc_pct(soc_true, capacity)
        t_end = t + step_s
        stats[S_MAX_SPREAD_TRUE] = max(stats[S_MAX_SPREAD_TRUE], spread_true)
        stats[S_MAX_SPREAD_EST] = max(stats[S_MAX_SPREAD_EST], spread_est)
        for j in range(N_THRESHOLDS):
            if np.isnan(stats[S_BELOW_FIRST + j]) and spread_true < THRESHOLDS[j]:
                stats[S_BELOW_FIRST + j] = t_end
        if np.isnan(stats[S_FIRST_RESERVE]) and latched.any():
            stats[S_FIRST_RESERVE] = t_end
            stats[S_SPREAD_AT_RESERVE] = spread_true


@njit(cache=True)
def prepare(
    params: np.ndarray,
    curve_load: np.ndarray,
    curve_eff: np.ndarray,
    soc_true0_pct: np.ndarray,
    soc_est0_pct: np.ndarray,
    ems: np.ndarray,
    n_steps: int,
    steps_per_record: int,
):
    """The loop's initial state and empty records: ``(work, flags, ints, out, pack_rec, dev_rec, stats, backup_on)``
    (``backup_on[0]``: AC backup charging is running)."""
    n = params.shape[0]
    n_rec = (n_steps + steps_per_record - 1) // steps_per_record
    pack_rec = np.zeros((n_rec, n, N_PACK_COLUMNS))
    dev_rec = np.zeros((n_rec, N_DEVICE_COLUMNS))
    stats = np.full(N_STATS, np.nan)
    work = np.zeros((N_WORK, n))
    flags = np.zeros((N_FLAGS, n), dtype=np.bool_)
    work[W_CAPACITY] = params[:, PARAM_CAPACITY_WH]
    work[W_ENERGY] = soc_true0_pct / 100.0 * work[W_CAPACITY]
    work[W_ENERGY_EST] = soc_est0_pct / 100.0 * work[W_CAPACITY]
    work[W_SOC_TRUE] = soc_true0_pct
    work[W_SOC_EST] = soc_est0_pct
    spread0 = _spread(soc_true0_pct)
    stats[S_MAX_SPREAD_TRUE] = spread0
    stats[S_MAX_SPREAD_EST] = _spread(soc_est0_pct)
    for j in range(N_THRESHOLDS):
        if spread0 < THRESHOLDS[j]:
            stats[S_BELOW_FIRST + j] = 0.0
    for i in range(n):
        flags[F_LATCHED, i] = reserve_latched_next(soc_est0_pct[i], False, ems[EMS_RESERVE_PCT], ems[EMS_HYSTERESIS_PCT])
        if flags[F_LATCHED, i] and np.isnan(stats[S_FIRST_RESERVE]):  # a pack starts at the reserve
            stats[S_FIRST_RESERVE] = 0.0
            stats[S_SPREAD_AT_RESERVE] = spread0
        work[W_RATED_CELL, i] = battery_side_w(
            params[i, PARAM_MAX_DISCHARGE_W],
            params[i, PARAM_MAX_DISCHARGE_W],
            curve_load[i],
            curve_eff[i],
            params[i, PARAM_RESISTANCE_OHM],
            params[i, PARAM_VOLTAGE_V],
        )
    return (
        work,
        flags,
        np.zeros((N_INTS, n), dtype=np.int64),
        np.zeros(6),
        pack_rec,
        dev_rec,
        stats,
        np.zeros(1, dtype=np.bool_),
    )


@njit(cache=True)
def finish(pack_rec: np.ndarray, n_steps: int, steps_per_record: int) -> None:
    """Turn the per-row sums of SOC and power into means (in place), once every step has run."""
    for row in range(pack_rec.shape[0]):
        steps_in_row = min(steps_per_record, n_steps - row * steps_per_record)
        for i in range(pack_rec.shape[1]):
            pack_rec[row, i, R_SOC_MEAN] /= steps_in_row
            pack_rec[row, i, R_POWER] /= steps_in_row


@njit(cache=True)
def run(
    params: np.ndarray,
    curve_load: np.ndarray,
    curve_eff: np.ndarray,
    priority_rank: np.ndarray,
    soc_true0_pct: np.ndarray,
    soc_est0_pct: np.ndarray,
    ems: np.ndarray,
    device: np.ndarray,
    load_w: np.ndarray,
    load_step_s: float,
    pv_w: np.ndarray,
    pv_step_s: float,
    grid_on: np.ndarray,
    grid_step_s: float,
    step_s: float,
    n_steps: int,
    steps_per_record: int,
):
    """Simulate ``n_steps`` steps of ``step_s`` seconds; pack 0 is the main unit's internal battery.

    Returns ``(pack_records[row, pack, PACK column], device_records[row, DEVICE column], stats[STATS column])``.
    """
    work, flags, ints, out, pack_rec, dev_rec, stats, backup_on = prepare(
        params, curve_load, curve_eff, soc_true0_pct, soc_est0_pct, ems, n_steps, steps_per_record
    )
    advance(
        params,
        curve_load,
        curve_eff,
        priority_rank,
        ems,
        device,
        load_w,
        load_step_s,
        pv_w,
        pv_step_s,
        grid_on,
        grid_step_s,
        step_s,
        steps_per_record,
        work,
        flags,
        ints,
        out,
        pack_rec,
        dev_rec,
        stats,
        backup_on,
        0,
        n_steps,
    )
    finish(pack_rec, n_steps, steps_per_record)
    return pack_rec, dev_rec, stats
