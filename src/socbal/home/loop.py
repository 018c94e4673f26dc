"""The compiled home loop: meter -> home decision -> each device's dynamics and firmware -> pack physics -> records.

Plain arrays in and out; :mod:`socbal.home.engine` builds them from a home scenario. The packs of
all devices are the columns of one set of working arrays (as :func:`socbal.sim.kernel.prepare` makes
them per device), device ``d`` owning columns ``first[d] : first[d] + count[d]``. Each device's
firmware shares its battery power between its packs with the EMS (:func:`allocate_with_scratch`)
and the packs step with :func:`step_pack_and_estimate`, the building blocks of the one-device loop.

Sign convention: battery power > 0 discharges, < 0 charges; a device's AC output is its PV plus its
battery power. Grid power > 0 imports.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from socbal.ems.kernel import SOURCE_PV, SOURCE_PV_AC, allocate_with_scratch, reserve_latched_next, total_soc_pct
from socbal.home import kernel as hk
from socbal.sim import kernel as sk
from socbal.sim.physics import bus_limit_for_energy_w, step_pack_and_estimate

# Firmware models (how a device shares between its packs and when it stops).
FW_SOCBAL = 0  # socbal's EMS: each pack stops at the reserve, the others carry on
FW_STOP_AT_FIRST_EMPTY = 1  # capacity shares; the whole device stops when its first pack reaches the reserve
FW_RESERVE_ON_AVERAGE = 2  # capacity shares; the reserve checked on the average SOC, each pack runs to empty

# Per-device dynamics (columns of ``dyn``).
DYN_LATENCY_S = 0  # setpoint to effect
DYN_RAMP_W_PER_S = 1  # how fast the device follows
DYN_FIRMWARE = 2
DYN_MIN_WRITE_S = 3
DYN_CIRCUIT = 4  # circuit index, -1 none
N_DYN = 5

# Per-device running values (columns of ``live``).
L_TARGET_W = 0  # the setpoint the device has taken up (after its latency)
L_APPLIED_W = 1  # what it asks its packs for now (ramping towards the target)
L_BATTERY_W = 2  # what its packs delivered in the last step (bus side)
L_MAX_DISCHARGE_W = 3  # what it can discharge now (its firmware's view)
L_MAX_CHARGE_W = 4
L_USABLE_WH = 5  # energy above the reserve, judged on its weakest pack (estimated)
L_ROOM_WH = 6
L_SOC_EST_PCT = 7
L_PV_W = 8  # PV on its input this step, after the input limit
L_WRITES = 9  # setpoints written so far
N_LIVE = 10

#: Setpoints in flight per device (written, not yet taken up); older ones are taken up early when it is full.
PENDING = 64

# Home records per recorded interval: home_rec[row, column].
HOME_COLUMNS = (
    "load_wh",
    "grid_import_wh",
    "export_wh",
    "served_by_storage_wh",  # battery discharge that stayed in the house
    "avoidable_import_wh",  # import while a device had usable energy and unused discharge headroom
    "avoidable_export_wh",  # export while a device had room and unused charge headroom
    "cross_charge_wh",  # charge into some devices' batteries while others' discharged
    "grid_w",  # mean grid power, + import
    "request_w",  # mean battery request the controller saw
    "device_soc_spread_pct",  # max - min of the devices' true SOC at the end of the interval
)
N_HOME = len(HOME_COLUMNS)
(H_LOAD, H_IMPORT, H_EXPORT, H_SERVED, H_AVOIDABLE_IMPORT, H_AVOIDABLE_EXPORT, H_CROSS, H_GRID_W, H_REQUEST_W, H_SPREAD) = range(
    N_HOME
)

# Per device and recorded interval: devices_rec[row, device, column].
DEVICE_ROW_COLUMNS = (
    "soc_true_pct",  # capacity-weighted true SOC at the end of the interval
    "soc_est_pct",
    "weakest_pack_soc_est_pct",
    "battery_power_w",  # mean battery power, + discharge
    "setpoint_w",  # last setpoint written by the end of the interval
    "ac_output_w",  # mean AC output (PV + battery; < 0 when it draws from AC)
    "writes",  # setpoints written in the interval
    "staged_on_s",  # time staged on
)
N_DROW = len(DEVICE_ROW_COLUMNS)
(DR_SOC_TRUE, DR_SOC_EST, DR_WEAKEST, DR_BATTERY_W, DR_SETPOINT_W, DR_AC_OUTPUT_W, DR_WRITES, DR_STAGED_S) = range(N_DROW)

# Whole-run home statistics.
HOME_STATS = ("max_handover_gap_s", "device_soc_spread_max_pct", "grid_sign_changes", "setpoint_sign_changes", "staging_switches")
N_HSTATS = len(HOME_STATS)
S_GAP, S_SPREAD_MAX, S_GRID_SIGNS, S_SETPOINT_SIGNS, S_STAGE_SWITCHES = range(N_HSTATS)

#: Avoidable import above this counts towards a handover gap, W.
GAP_THRESHOLD_W = 50.0
#: Grid power beyond this either way counts for the sign changes (oscillation), W.
SIGN_THRESHOLD_W = 50.0


@njit(cache=True, _nrt=False, inline="always")
def _device_view(
    d: int,
    first: np.ndarray,
    count: np.ndarray,
    params: np.ndarray,
    ems: np.ndarray,
    dyn: np.ndarray,
    device: np.ndarray,
    work: np.ndarray,
    flags: np.ndarray,
    live: np.ndarray,
) -> None:
    """Refresh device ``d``'s firmware view in ``live``: its estimated SOC, weakest-pack usable energy, room and
    what it can discharge and charge now (pack limits, its firmware's stop rule, its AC limits with its PV)."""
    a = first[d]
    b = a + count[d]
    capacity = work[sk.W_CAPACITY, a:b]
    soc_est = work[sk.W_SOC_EST, a:b]
    reserve = ems[d, sk.EMS_RESERVE_PCT]
    firmware = int(dyn[d, DYN_FIRMWARE])
    total_capacity = 0.0
    weakest = 100.0
    discharge_w = 0.0
    charge_w = 0.0
    for i in range(count[d]):
        p = a + i
        total_capacity += capacity[i]
        weakest = min(weakest, soc_est[i])
        pack_floor = 0.0 if firmware == FW_RESERVE_ON_AVERAGE else reserve
        if soc_est[i] > pack_floor and not (firmware != FW_RESERVE_ON_AVERAGE and flags[sk.F_LATCHED, p]):
            discharge_w += params[p, sk.PARAM_MAX_DISCHARGE_W]
        if soc_est[i] < 100.0:
            charge_w += params[p, sk.PARAM_MAX_CHARGE_W]
    soc = total_soc_pct(soc_est, capacity)
    if firmware == FW_STOP_AT_FIRST_EMPTY and weakest <= reserve:
        discharge_w = 0.0
    if firmware == FW_RESERVE_ON_AVERAGE and soc <= reserve:
        discharge_w = 0.0
    pv = live[d, L_PV_W]
    live[d, L_MAX_DISCHARGE_W] = max(min(discharge_w, device[d, sk.DEV_AC_OUTPUT_LIMIT_W] - pv), 0.0)
    live[d, L_MAX_CHARGE_W] = min(charge_w, device[d, sk.DEV_AC_CHARGE_LIMIT_W] + pv)
    live[d, L_USABLE_WH] = total_capacity * max(weakest - reserve, 0.0) / 100.0
    live[d, L_ROOM_WH] = total_capacity * (100.0 - soc) / 100.0
    live[d, L_SOC_EST_PCT] = soc


@njit(cache=True, _nrt=False, inline="always")
def _step_device(
    d: int,
    first: np.ndarray,
    count: np.ndarray,
    params: np.ndarray,
    curve_load: np.ndarray,
    curve_eff: np.ndarray,
    priority_rank: np.ndarray,
    ems: np.ndarray,
    dyn: np.ndarray,
    device: np.ndarray,
    step_s: float,
    work: np.ndarray,
    flags: np.ndarray,
    ints: np.ndarray,
    out: np.ndarray,
    live: np.ndarray,
    row: int,
    first_of_row: bool,
    pack_rec: np.ndarray,
    dev_rec: np.ndarray,
) -> float:
    """One step of device ``d``: its firmware shares its applied battery power between its packs, the packs step,
    its records fill. Returns its net AC power into the house (W; < 0 when it draws from the grid)."""
    a = first[d]
    b = a + count[d]
    capacity = work[sk.W_CAPACITY, a:b]
    soc_est = work[sk.W_SOC_EST, a:b]
    limit_dis = work[sk.W_LIMIT_DIS, a:b]
    limit_chg = work[sk.W_LIMIT_CHG, a:b]
    power = work[sk.W_POWER, a:b]
    latched = flags[sk.F_LATCHED, a:b]
    to_wh = step_s / 3600.0
    firmware = int(dyn[d, DYN_FIRMWARE])
    reserve = ems[d, sk.EMS_RESERVE_PCT]
    pack_floor = 0.0 if firmware == FW_RESERVE_ON_AVERAGE else reserve
    request_w = min(max(live[d, L_APPLIED_W], -live[d, L_MAX_CHARGE_W]), live[d, L_MAX_DISCHARGE_W])
    pv = live[d, L_PV_W]
    for i in range(count[d]):
        p = a + i
        if request_w > 0.0:
            limit_dis[i] = bus_limit_for_energy_w(
                (soc_est[i] - pack_floor) / 100.0 * capacity[i],
                step_s,
                params[p, sk.PARAM_MAX_DISCHARGE_W],
                curve_load[p],
                curve_eff[p],
                params[p, sk.PARAM_RESISTANCE_OHM],
                params[p, sk.PARAM_VOLTAGE_V],
                work[sk.W_RATED_CELL, p],
            )
        else:
            draws_w = params[p, sk.PARAM_STANDBY_W] + (device[d, sk.DEV_ACTIVE_W] if i == 0 else 0.0)
            room_w = (100.0 - soc_est[i]) / 100.0 * capacity[i] * 3600.0 / step_s
            limit_chg[i] = min(params[p, sk.PARAM_MAX_CHARGE_W], (room_w + draws_w) * sk.CHARGE_ROOM_MARGIN)
    served = allocate_with_scratch(
        soc_est,
        capacity,
        limit_dis,
        limit_chg,
        latched,
        priority_rank[a:b],
        pack_floor,
        ems[d, sk.EMS_HYSTERESIS_PCT],
        int(ems[d, sk.EMS_STRATEGY]),
        ems[d, sk.EMS_DROOP_EXPONENT],
        request_w,
        SOURCE_PV_AC if request_w < -pv else SOURCE_PV,
        ems[d, sk.EMS_LOW_PACKS_FIRST] > 0.5,
        ems[d, sk.EMS_MIN_MODULE_LOAD_PCT],
        power,
        work[sk.W_WEIGHT, a:b],
        ints[sk.I_REASON, a:b],
        flags[sk.F_ELIGIBLE, a:b],
        flags[sk.F_MEMBER, a:b],
        flags[sk.F_ACTIVE, a:b],
        work[sk.W_EMS_LIMIT, a:b],
        work[sk.W_EMS_USE, a:b],
        ints[sk.I_TIER, a:b],
    )
    operating = served > 0.0 or pv > 0.0
    main_w = device[d, sk.DEV_ACTIVE_W] if operating else device[d, sk.DEV_STANDBY_W]
    main_from_grid = main_w if device[d, sk.DEV_AUX_MODULE] > 0.5 else 0.0
    main_from_battery = main_w - main_from_grid
    discharged = 0.0
    charged = 0.0
    for i in range(count[d]):
        p = a + i
        rated = params[p, sk.PARAM_MAX_DISCHARGE_W] if power[i] > 0.0 else params[p, sk.PARAM_MAX_CHARGE_W]
        standby = params[p, sk.PARAM_STANDBY_W] + (main_from_battery if i == 0 else 0.0)
        step_pack_and_estimate(
            work[sk.W_ENERGY, p],
            work[sk.W_ENERGY_EST, p],
            capacity[i],
            power[i],
            standby,
            step_s,
            rated,
            curve_load[p],
            curve_eff[p],
            params[p, sk.PARAM_RESISTANCE_OHM],
            params[p, sk.PARAM_VOLTAGE_V],
            params[p, sk.PARAM_SENSOR_OFFSET_W],
            params[p, sk.PARAM_SENSOR_GAIN_ERROR],
            params[p, sk.PARAM_SENSOR_DEADBAND_W],
            out,
        )
        if i == 0:
            main_from_battery = max(out[4] - params[p, sk.PARAM_STANDBY_W], 0.0)
        work[sk.W_ENERGY, p] = out[0]
        work[sk.W_ENERGY_EST, p] = out[5]
        soc_true = 100.0 * out[0] / capacity[i]
        work[sk.W_SOC_TRUE, p] = soc_true
        soc_est[i] = 100.0 * out[5] / capacity[i]
        latched[i] = reserve_latched_next(soc_est[i], latched[i], pack_floor, ems[d, sk.EMS_HYSTERESIS_PCT])
        bus_w = out[1]
        if bus_w > 0.0:
            discharged += bus_w
            pack_rec[row, p, sk.R_DISCHARGE] += bus_w * to_wh
        else:
            charged -= bus_w
            pack_rec[row, p, sk.R_CHARGE] -= bus_w * to_wh
        pack_rec[row, p, sk.R_POWER] += bus_w
        pack_rec[row, p, sk.R_LOSS] += out[3] * to_wh
        main_part = main_from_battery if i == 0 else 0.0
        pack_rec[row, p, sk.R_STANDBY] += (out[4] - main_part) * to_wh
        pack_rec[row, p, sk.R_MAIN_UNIT] += main_part * to_wh
        if latched[i]:
            pack_rec[row, p, sk.R_RESERVE_S] += step_s
        pack_rec[row, p, sk.R_SOC_MEAN] += soc_true
        if first_of_row or soc_true < pack_rec[row, p, sk.R_SOC_MIN]:
            pack_rec[row, p, sk.R_SOC_MIN] = soc_true
        if first_of_row or soc_true > pack_rec[row, p, sk.R_SOC_MAX]:
            pack_rec[row, p, sk.R_SOC_MAX] = soc_true
        pack_rec[row, p, sk.R_SOC_TRUE] = soc_true
        pack_rec[row, p, sk.R_SOC_EST] = soc_est[i]
    # AC side: PV charges first, the AC output limit curtails PV, what charging needs beyond PV comes from AC.
    pv_charge = min(charged, pv)
    ac_in = charged - pv_charge
    pv_out = min(pv - pv_charge, max(device[d, sk.DEV_AC_OUTPUT_LIMIT_W] - discharged, 0.0))
    output = pv_out + discharged
    live[d, L_BATTERY_W] = discharged - charged
    dev_rec[row, d, sk.D_PV] += pv * to_wh
    dev_rec[row, d, sk.D_CURTAILED] += (pv - pv_charge - pv_out) * to_wh
    dev_rec[row, d, sk.D_OUTPUT] += output * to_wh
    dev_rec[row, d, sk.D_GRID_DEVICE] += (ac_in + main_from_grid) * to_wh
    dev_rec[row, d, sk.D_MAIN] += (main_from_grid + main_from_battery) * to_wh
    dev_rec[row, d, sk.D_MAIN_BATT] += main_from_battery * to_wh
    dev_rec[row, d, sk.D_DISCHARGE] += discharged * to_wh
    dev_rec[row, d, sk.D_CHARGE] += charged * to_wh
    dev_rec[row, d, sk.D_BATT_UNSERVED] += max(request_w - discharged, 0.0) * to_wh
    dev_rec[row, d, sk.D_GRID_ON] += step_s
    dev_rec[row, d, sk.D_SPREAD_TRUE] = sk._spread(work[sk.W_SOC_TRUE, a:b])
    dev_rec[row, d, sk.D_SPREAD_EST] = sk._spread(soc_est)
    dev_rec[row, d, sk.D_TOTAL_SOC] = total_soc_pct(work[sk.W_SOC_TRUE, a:b], capacity)
    return output - ac_in - main_from_grid


@njit(cache=True, _nrt=False, inline="always")
def _device_stats(
    d: int, first: np.ndarray, count: np.ndarray, work: np.ndarray, flags: np.ndarray, t_end: float, stats: np.ndarray
):
    """Device ``d``'s one-device statistics (``sim.columns.STATS_COLUMNS``) after a step ending at ``t_end``."""
    a = first[d]
    b = a + count[d]
    spread_true = sk._spread(work[sk.W_SOC_TRUE, a:b])
    stats[d, sk.S_MAX_SPREAD_TRUE] = max(stats[d, sk.S_MAX_SPREAD_TRUE], spread_true)
    stats[d, sk.S_MAX_SPREAD_EST] = max(stats[d, sk.S_MAX_SPREAD_EST], sk._spread(work[sk.W_SOC_EST, a:b]))
    for j in range(sk.N_THRESHOLDS):
        if np.isnan(stats[d, sk.S_BELOW_FIRST + j]) and spread_true < sk.THRESHOLDS[j]:
            stats[d, sk.S_BELOW_FIRST + j] = t_end
    if np.isnan(stats[d, sk.S_FIRST_RESERVE]) and flags[sk.F_LATCHED, a:b].any():
        stats[d, sk.S_FIRST_RESERVE] = t_end
        stats[d, sk.S_SPREAD_AT_RESERVE] = spread_true


@njit(cache=True, _nrt=False, error_model="numpy")
def advance_home(
    first: np.ndarray,
    count: np.ndarray,
    params: np.ndarray,
    curve_load: np.ndarray,
    curve_eff: np.ndarray,
    priority_rank: np.ndarray,
    ems: np.ndarray,
    device: np.ndarray,
    dyn: np.ndarray,
    load_w: np.ndarray,
    load_step_s: float,
    pv_w: np.ndarray,
    pv_len: np.ndarray,
    pv_step_s: np.ndarray,
    home_settings: np.ndarray,
    circuit_max_w: np.ndarray,
    grid_target_w: float,
    period_steps: int,
    latency_steps: int,
    step_s: float,
    steps_per_record: int,
    work: np.ndarray,
    flags: np.ndarray,
    ints: np.ndarray,
    out: np.ndarray,
    live: np.ndarray,
    pending_t: np.ndarray,
    pending_w: np.ndarray,
    pending_n: np.ndarray,
    hdev: np.ndarray,
    hstate: np.ndarray,
    hout: np.ndarray,
    hscratch_f: np.ndarray,
    hscratch_b: np.ndarray,
    hscratch_i: np.ndarray,
    circuit_w: np.ndarray,
    history: np.ndarray,
    run_state: np.ndarray,
    pack_rec: np.ndarray,
    dev_rec: np.ndarray,
    stats: np.ndarray,
    home_rec: np.ndarray,
    devices_rec: np.ndarray,
    home_stats: np.ndarray,
    k_start: int,
    k_end: int,
) -> None:
    """Steps ``k_start`` to ``k_end - 1`` of the home loop, advancing the state arrays and filling the records in
    place (all made by :func:`socbal.home.engine.prepare_home`). Compiled without reference counting: it never
    allocates.

    Each step: every device takes up the setpoints whose latency has passed and ramps its applied power towards
    them; its firmware shares that power between its packs; the grid balances the house. The meter reads the grid
    every ``period_steps`` steps; a reading ``latency_steps`` old reaches the controller, which computes the
    home's battery request (reading - target + the devices' measured battery power at that time), decides one
    setpoint per device and writes the changed ones.
    """
    n_dev = first.shape[0]
    n_circuits = circuit_max_w.shape[0]
    to_wh = step_s / 3600.0
    h_len = history.shape[1]
    power_out = hout[0]
    weight_out = hout[1]
    limit_out = hout[2]
    credited_out = hout[3]
    reason_out = hscratch_i[0]
    order = hscratch_i[1]
    hcircuit = hscratch_i[2]
    circ_dis = circuit_w[0]
    circ_chg = circuit_w[1]
    circuit_work = circuit_w[2:]
    state_out = hstate[1]
    state = hstate[0]
    for k in range(k_start, k_end):
        t = k * step_s
        t_end = t + step_s
        row = k // steps_per_record
        first_of_row = k % steps_per_record == 0
        load = sk._held(load_w, load_step_s, t)
        net_w = 0.0  # devices' net AC power into the house
        discharging_w = 0.0
        charging_w = 0.0
        headroom_dis_w = 0.0
        headroom_chg_w = 0.0
        for d in range(n_dev):
            pv = pv_w[d, min(int(t / pv_step_s[d]), pv_len[d] - 1)]
            live[d, L_PV_W] = min(pv, device[d, sk.DEV_PV_INPUT_LIMIT_W])
            # Take up the setpoints whose latency has passed, then ramp towards the newest.
            taken = 0
            while taken < pending_n[d] and pending_t[d, taken] <= t + 1e-9:
                live[d, L_TARGET_W] = pending_w[d, taken]
                taken += 1
            if taken > 0:
                for j in range(pending_n[d] - taken):
                    pending_t[d, j] = pending_t[d, j + taken]
                    pending_w[d, j] = pending_w[d, j + taken]
                pending_n[d] -= taken
            gap = live[d, L_TARGET_W] - live[d, L_APPLIED_W]
            max_step = dyn[d, DYN_RAMP_W_PER_S] * step_s
            live[d, L_APPLIED_W] += min(max(gap, -max_step), max_step)
            _device_view(d, first, count, params, ems, dyn, device, work, flags, live)
            net_w += _step_device(
                d,
                first,
                count,
                params,
                curve_load,
                curve_eff,
                priority_rank,
                ems,
                dyn,
                device,
                step_s,
                work,
                flags,
                ints,
                out,
                live,
                row,
                first_of_row,
                pack_rec,
                dev_rec,
            )
            _device_stats(d, first, count, work, flags, t_end, stats)
            battery = live[d, L_BATTERY_W]
            if battery > 0.0:
                discharging_w += battery
            else:
                charging_w -= battery
            if live[d, L_USABLE_WH] > 0.0:
                headroom_dis_w += max(live[d, L_MAX_DISCHARGE_W] - max(battery, 0.0), 0.0)
            if live[d, L_ROOM_WH] > 0.0:
                headroom_chg_w += max(live[d, L_MAX_CHARGE_W] - max(-battery, 0.0), 0.0)
            history[d, k % h_len] = battery
            drow = devices_rec[row, d]
            drow[DR_BATTERY_W] += battery
            drow[DR_AC_OUTPUT_W] += live[d, L_BATTERY_W] + live[d, L_PV_W]
            if state[d, hk.ST_STAGED_ON] > 0.5:
                drow[DR_STAGED_S] += step_s
        grid = load - net_w
        history[n_dev, k % h_len] = grid
        grid_import = max(grid, 0.0)
        export = max(-grid, 0.0)
        avoidable_import = min(grid_import, headroom_dis_w)
        hrow = home_rec[row]
        hrow[H_LOAD] += load * to_wh
        hrow[H_IMPORT] += grid_import * to_wh
        hrow[H_EXPORT] += export * to_wh
        hrow[H_SERVED] += max(discharging_w - export, 0.0) * to_wh
        hrow[H_AVOIDABLE_IMPORT] += avoidable_import * to_wh
        hrow[H_AVOIDABLE_EXPORT] += min(export, headroom_chg_w) * to_wh
        hrow[H_CROSS] += min(discharging_w, charging_w) * to_wh
        hrow[H_GRID_W] += grid
        # Handover gap: consecutive steps of avoidable import; oscillation: sign changes of the grid power.
        run_state[0] = run_state[0] + step_s if avoidable_import > GAP_THRESHOLD_W else 0.0
        home_stats[S_GAP] = max(home_stats[S_GAP], run_state[0])
        if abs(grid) > SIGN_THRESHOLD_W:
            sign = 1.0 if grid > 0.0 else -1.0
            if run_state[1] != 0.0 and sign != run_state[1]:
                home_stats[S_GRID_SIGNS] += 1.0
            run_state[1] = sign

        # The controller, when a reading arrives.
        if k >= latency_steps and (k - latency_steps) % period_steps == 0:
            seen = (k - latency_steps) % h_len
            measured_total = 0.0
            for d in range(n_dev):
                measured_total += history[d, seen]
            request = history[n_dev, seen] - grid_target_w + measured_total
            hrow[H_REQUEST_W] += request * period_steps  # a mean over the steps it stands for
            for c in range(n_circuits):
                circ_dis[c] = circuit_max_w[c]
                circ_chg[c] = circuit_max_w[c]
            for d in range(n_dev):
                _device_view(d, first, count, params, ems, dyn, device, work, flags, live)
                a = first[d]
                rated_dis = 0.0
                rated_chg = 0.0
                for i in range(count[d]):
                    rated_dis += params[a + i, sk.PARAM_MAX_DISCHARGE_W]
                    rated_chg += params[a + i, sk.PARAM_MAX_CHARGE_W]
                hdev[d, hk.DEV_USABLE_WH] = live[d, L_USABLE_WH]
                hdev[d, hk.DEV_ROOM_WH] = live[d, L_ROOM_WH]
                hdev[d, hk.DEV_SOC_PCT] = live[d, L_SOC_EST_PCT]
                hdev[d, hk.DEV_RESERVE_PCT] = ems[d, sk.EMS_RESERVE_PCT]
                hdev[d, hk.DEV_MAX_DISCHARGE_W] = live[d, L_MAX_DISCHARGE_W]
                hdev[d, hk.DEV_MAX_CHARGE_W] = live[d, L_MAX_CHARGE_W]
                hdev[d, hk.DEV_RATED_DISCHARGE_W] = min(rated_dis, device[d, sk.DEV_AC_OUTPUT_LIMIT_W])
                hdev[d, hk.DEV_RATED_CHARGE_W] = min(rated_chg, device[d, sk.DEV_AC_CHARGE_LIMIT_W] + live[d, L_PV_W])
                hdev[d, hk.DEV_MEASURED_W] = history[d, seen]
                hdev[d, hk.DEV_ONLINE] = 1.0
                hdev[d, hk.DEV_CIRCUIT] = dyn[d, DYN_CIRCUIT]
                hdev[d, hk.DEV_MIN_WRITE_S] = dyn[d, DYN_MIN_WRITE_S]
                c = int(dyn[d, DYN_CIRCUIT])
                if c >= 0:  # a circuit carries AC power: PV on it takes room from discharging and gives it to charging
                    circ_dis[c] -= live[d, L_PV_W]
                    circ_chg[c] += live[d, L_PV_W]
            for c in range(n_circuits):
                circ_dis[c] = max(circ_dis[c], 0.0)
            hk.advance_timers(state, period_steps * step_s)
            hk.decide_home_with_scratch(
                hdev,
                state,
                circ_dis,
                circ_chg,
                home_settings,
                request,
                period_steps * step_s,
                power_out,
                reason_out,
                weight_out,
                limit_out,
                credited_out,
                state_out,
                hscratch_b,
                hscratch_f,
                order,
                hcircuit,
                circuit_work,
            )
            for d in range(n_dev):
                written = state_out[d, hk.ST_SINCE_WRITE_S] == 0.0 and state_out[d, hk.ST_LAST_W] != state[d, hk.ST_LAST_W]
                old = state[d, hk.ST_LAST_W]
                if (state_out[d, hk.ST_STAGED_ON] > 0.5) != (state[d, hk.ST_STAGED_ON] > 0.5):
                    home_stats[S_STAGE_SWITCHES] += 1.0
                for col in range(hk.N_ST):
                    state[d, col] = state_out[d, col]
                if written:
                    new = state[d, hk.ST_LAST_W]
                    if old * new < 0.0:
                        home_stats[S_SETPOINT_SIGNS] += 1.0
                    if pending_n[d] == pending_t.shape[1]:  # full: the oldest is taken up now
                        live[d, L_TARGET_W] = pending_w[d, 0]
                        for j in range(pending_n[d] - 1):
                            pending_t[d, j] = pending_t[d, j + 1]
                            pending_w[d, j] = pending_w[d, j + 1]
                        pending_n[d] -= 1
                    pending_t[d, pending_n[d]] = t_end + dyn[d, DYN_LATENCY_S]
                    pending_w[d, pending_n[d]] = new
                    pending_n[d] += 1
                    live[d, L_WRITES] += 1.0
                    devices_rec[row, d, DR_WRITES] += 1.0

        # End-of-interval values.
        spread_low = 100.0
        spread_high = 0.0
        for d in range(n_dev):
            a = first[d]
            soc_true = total_soc_pct(work[sk.W_SOC_TRUE, a : a + count[d]], work[sk.W_CAPACITY, a : a + count[d]])
            spread_low = min(spread_low, soc_true)
            spread_high = max(spread_high, soc_true)
            drow = devices_rec[row, d]
            drow[DR_SOC_TRUE] = soc_true
            drow[DR_SOC_EST] = live[d, L_SOC_EST_PCT]
            weakest = 100.0
            for i in range(count[d]):
                weakest = min(weakest, work[sk.W_SOC_EST, a + i])
            drow[DR_WEAKEST] = weakest
            drow[DR_SETPOINT_W] = state[d, hk.ST_LAST_W]
        hrow[H_SPREAD] = spread_high - spread_low
        home_stats[S_SPREAD_MAX] = max(home_stats[S_SPREAD_MAX], spread_high - spread_low)


@njit(cache=True)
def finish_home(home_rec: np.ndarray, devices_rec: np.ndarray, n_steps: int, steps_per_record: int) -> None:
    """Turn the per-row sums of powers into means (in place), once every step has run."""
    for row in range(home_rec.shape[0]):
        steps_in_row = min(steps_per_record, n_steps - row * steps_per_record)
        home_rec[row, H_GRID_W] /= steps_in_row
        home_rec[row, H_REQUEST_W] /= steps_in_row
        for d in range(devices_rec.shape[1]):
            devices_rec[row, d, DR_BATTERY_W] /= steps_in_row
            devices_rec[row, d, DR_AC_OUTPUT_W] /= steps_in_row
