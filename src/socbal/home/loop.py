"""The compiled home loop: meter -> home decision -> each device's dynamics and firmware -> records.

Plain arrays in and out, bundled in NamedTuples; :mod:`socbal.home.engine` builds them from a home
scenario. The packs of all devices lie side by side in one set of pack arrays, device ``d`` owning
``first[d] : first[d] + n_packs[d]``; each step every device runs the one-device firmware step
(:func:`socbal.device.step.firmware_step`) on views of its packs, with the battery power its
setpoint, latency and ramp give, and its packs are recorded as the one-device loop records them.

Sign convention: battery power > 0 discharges, < 0 charges; a device's AC output is its PV plus its
battery power. Grid power > 0 imports.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from socbal.device import params as dp
from socbal.device.params import DeviceModel
from socbal.device.step import DeviceState, StepScratch, firmware_step
from socbal.ems.kernel import SOURCE_PV, SOURCE_PV_AC
from socbal.home import kernel as hk
from socbal.jit import compiled_only_kernel, fmax, fmin, ir_inline_kernel, loop_kernel, rows
from socbal.profiles.holding import value_at
from socbal.sim import kernel as sk

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
DYN_RESERVE_PCT = 5  # the device's backup reserve (its packs' EMS may use another: reserve-on-average)
DYN_RATED_DISCHARGE_W = 6  # its packs' rated discharge power together (staging thresholds)
DYN_RATED_CHARGE_W = 7
DYN_EFFICIENT_DISCHARGE_W = 8  # where its DC-DC modules are most efficient together (the home decision fills it this far)
DYN_EFFICIENT_CHARGE_W = 9
N_DYN = 10

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
L_CHARGE_HEADROOM_W = 10  # what it could still charge this step, within its room not yet counted (avoidable export)
L_COUNTED_ROOM_WH = 11  # room already counted towards avoidable export in the current run of PV export
L_PACKS_DISCHARGE_W = 12  # what its packs can discharge (its firmware's stop rule), before its AC limits
L_PACKS_CHARGE_W = 13
L_WEAKEST_PCT = 14  # estimated SOC of its emptiest pack
N_LIVE = 15

#: Setpoints in flight per device (written, not yet taken up); older ones are taken up early when it is full.
PENDING = 64

# Home records per recorded interval: home_rec[row, column].
HOME_COLUMNS = (
    "load_wh",
    "grid_import_wh",
    "export_wh",
    "served_by_storage_wh",  # the load's share of the storage's AC output (AC pool shared in proportion; <= load)
    "storage_ac_wh",  # the devices' AC output from their batteries: battery - own charging - main unit, <= AC output
    "avoidable_import_wh",  # import beyond the grid target while a device had usable energy and discharge headroom
    "avoidable_export_wh",  # PV exported beyond the grid target while a device could have charged it (circuits counted)
    "cross_charge_wh",  # charge into some devices' batteries while others' discharged
    "grid_w",  # mean grid power, + import
    "request_w",  # mean battery request the controller saw
    "device_soc_spread_pct",  # max - min of the devices' true SOC at the end of the interval
)
N_HOME = len(HOME_COLUMNS)
(H_LOAD, H_IMPORT, H_EXPORT, H_SERVED, H_STORAGE_AC, H_AVOIDABLE_IMPORT, H_AVOIDABLE_EXPORT, H_CROSS, H_GRID_W, H_REQUEST_W,
 H_SPREAD) = range(N_HOME)  # fmt: skip

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
HOME_STATS = (
    "max_handover_gap_s",
    "device_soc_spread_max_pct",
    "grid_sign_changes",
    "setpoint_sign_changes",
    "staging_switches",
    "meter_stale_s",  # time with the newest reading older than stale_after_s (the devices held at 0 W)
)
N_HSTATS = len(HOME_STATS)
S_GAP, S_SPREAD_MAX, S_GRID_SIGNS, S_SETPOINT_SIGNS, S_STAGE_SWITCHES, S_STALE = range(N_HSTATS)

# Running values of the whole home (``HomeState.runs``).
R_GAP_S = 0  # current run of avoidable import, s
R_GRID_SIGN = 1  # sign of the last grid power beyond the threshold
R_READING_T_S = 2  # when the newest reading the controller got was taken, s
R_FAILED_SAFE = 3  # 1 while the devices are held at 0 W for a stale meter
N_RUNS = 4

#: Avoidable import above this counts towards a handover gap, W.
GAP_THRESHOLD_W = 50.0
#: Grid power beyond this either way counts for the sign changes (oscillation), W.
SIGN_THRESHOLD_W = 50.0


class HomeModel(NamedTuple):
    """The home's fixed inputs: every device's packs side by side, per-device settings, home settings."""

    first: np.ndarray  # int64 [device]: its first pack
    n_packs: np.ndarray  # int64 [device]: its number of packs
    params: np.ndarray  # [pack, PARAM_*] (socbal.device.params)
    curve_load: np.ndarray
    curve_eff: np.ndarray
    curve_slope: np.ndarray
    priority_rank: np.ndarray  # [pack], within its device
    ems: np.ndarray  # [device, EMS_*]: what its firmware's EMS uses
    device: np.ndarray  # [device, DEV_*]
    dyn: np.ndarray  # [device, DYN_*]
    home_settings: np.ndarray  # socbal.home.kernel HS_*
    circuit_max_w: np.ndarray  # [circuit]
    grid_target_w: float
    period_steps: int  # the meter's period
    latency_steps: int  # the age of a reading when it arrives
    stale_after_s: float  # a reading older than this is stale: every device to 0 W
    meter_outages_s: np.ndarray  # [outage, 2]: start and end of each window without readings, s


class HomeProfiles(NamedTuple):
    """Household load and each device's PV, held at their own steps."""

    load_w: np.ndarray
    load_step_s: float
    pv_w: np.ndarray  # [device, value], padded
    pv_len: np.ndarray  # int64 [device]
    pv_step_s: np.ndarray  # [device]


class HomeState(NamedTuple):
    """What the home carries from one step to the next."""

    packs: DeviceState  # every device's packs side by side; backup_on has one entry per device
    live: np.ndarray  # [device, L_*]
    pending_t: np.ndarray  # [device, PENDING]: when each written setpoint takes effect, s
    pending_w: np.ndarray  # [device, PENDING]
    pending_n: np.ndarray  # int64 [device]
    decision: np.ndarray  # [2, device, ST_*]: the home decision's memory (in, out)
    history: np.ndarray  # [device + 1, latency + 1]: recent battery powers and grid power (for the meter's latency)
    runs: np.ndarray  # [N_RUNS]: R_* (handover gap, grid sign, newest reading, fail-safe)


class HomeScratch(NamedTuple):
    """Working arrays: the firmware step's (all packs side by side) and the home decision's."""

    step: StepScratch
    hdev: np.ndarray  # [device, DEV_*] of socbal.home.kernel
    hout: np.ndarray  # [4, device]: setpoint, weight, limit, credited
    hflags: np.ndarray  # bool [7, device]
    hwork: np.ndarray  # [9, device]
    hints: np.ndarray  # int64 [3, device]: reason, order, circuit
    circuits: np.ndarray  # [8, circuit]: discharge and charge room, charge headroom and its cap, the decision's scratch


class HomeRecords(NamedTuple):
    """What the loop records (``pack``, ``device``, ``stats`` per device as the one-device loop does)."""

    pack: np.ndarray  # [row, pack, PACK column]
    device: np.ndarray  # [row, device, DEVICE column]
    stats: np.ndarray  # [device, STATS column]
    home: np.ndarray  # [row, HOME column]
    devices: np.ndarray  # [row, device, DEVICE_ROW column]
    home_stats: np.ndarray  # [HOME_STATS]


@compiled_only_kernel
def _views(model: HomeModel, state: HomeState, scratch: HomeScratch, d: int):
    """Device ``d`` as the one-device firmware step sees it: ``(DeviceModel, DeviceState, StepScratch)`` views.

    Taken with :func:`socbal.jit.rows`, not slices: each view keeps its array's C-contiguous type (a slice of a 2-D
    array is typed of unknown layout: every address from run-time strides) and costs no slice bounds arithmetic."""
    a = model.first[d]
    b = a + model.n_packs[d]
    p = state.packs
    s = scratch.step
    return (
        DeviceModel(
            rows(model.params, a, b), rows(model.curve_load, a, b), rows(model.curve_eff, a, b),
            rows(model.curve_slope, a, b), rows(model.priority_rank, a, b), model.ems[d], model.device[d],
        ),
        DeviceState(
            rows(p.capacity_wh, a, b), rows(p.believed_capacity_wh, a, b), rows(p.energy_wh, a, b),
            rows(p.energy_est_wh, a, b), rows(p.soc_true_pct, a, b), rows(p.soc_est_pct, a, b), rows(p.latched, a, b),
            rows(p.empty, a, b), rows(p.full, a, b), rows(p.backup_on, d, d + 1),
        ),
        StepScratch(
            rows(s.limit_dis_w, a, b), rows(s.limit_chg_w, a, b), rows(s.power_w, a, b), rows(s.weight, a, b),
            rows(s.reason, a, b), rows(s.eligible, a, b), rows(s.member, a, b), rows(s.active, a, b), rows(s.limit, a, b),
            rows(s.use, a, b), rows(s.tier, a, b), rows(s.bus_w, a, b), rows(s.dcdc_loss_w, a, b), rows(s.i2r_loss_w, a, b),
            rows(s.standby_w, a, b), rows(s.main_unit_w, a, b), rows(s.cell_w, a, b),
        ),
    )  # fmt: skip


@compiled_only_kernel
def pack_view(
    m: DeviceModel, st: DeviceState, firmware: int, reserve_pct: float, live_row: np.ndarray
) -> tuple[float, float, float]:
    """A device's own view of its packs into ``live_row``: estimated SOC, its weakest pack, usable energy judged on
    that pack, room, and what its packs can discharge and charge (its firmware's stop rule included).

    Returns what the loop records of its packs, in the same pass: ``(spread_true, spread_est, soc_true)``, the
    spreads of the true and estimated SOCs (as :func:`socbal.sim.kernel._spreads`) and the capacity-weighted true
    SOC (as :func:`socbal.ems.kernel.total_soc_pct`), %."""
    pack_floor = 0.0 if firmware == FW_RESERVE_ON_AVERAGE else reserve_pct
    capacity = 0.0
    energy = 0.0
    true_capacity = 0.0
    true_energy = 0.0
    weakest = 100.0
    discharge_w = 0.0
    charge_w = 0.0
    high_true = low_true = st.soc_true_pct[0]
    high_est = low_est = st.soc_est_pct[0]
    for i in range(m.params.shape[0]):
        soc = st.soc_est_pct[i]
        soc_true = st.soc_true_pct[i]
        capacity += st.believed_capacity_wh[i]
        energy += soc * st.believed_capacity_wh[i]
        true_energy += soc_true * st.capacity_wh[i]
        true_capacity += st.capacity_wh[i]
        weakest = min(weakest, soc)
        high_true = fmax(high_true, soc_true)
        low_true = fmin(low_true, soc_true)
        high_est = fmax(high_est, soc)
        low_est = fmin(low_est, soc)
        if soc > pack_floor and not st.latched[i] and not st.empty[i]:
            discharge_w += m.params[i, dp.PARAM_MAX_DISCHARGE_W]
        if soc < 100.0 and not st.full[i]:
            charge_w += m.params[i, dp.PARAM_MAX_CHARGE_W]
    soc = energy / capacity if capacity > 0.0 else 0.0  # as total_soc_pct
    if (firmware == FW_STOP_AT_FIRST_EMPTY and weakest <= reserve_pct) or (
        firmware == FW_RESERVE_ON_AVERAGE and soc <= reserve_pct
    ):
        discharge_w = 0.0
    live_row[L_PACKS_DISCHARGE_W] = discharge_w
    live_row[L_PACKS_CHARGE_W] = charge_w
    live_row[L_USABLE_WH] = capacity * max(weakest - reserve_pct, 0.0) / 100.0
    live_row[L_ROOM_WH] = capacity * (100.0 - soc) / 100.0
    live_row[L_SOC_EST_PCT] = soc
    live_row[L_WEAKEST_PCT] = weakest
    soc_true = true_energy / true_capacity if true_capacity > 0.0 else 0.0
    return high_true - low_true, high_est - low_est, soc_true


@compiled_only_kernel
def _ac_limits(device_row: np.ndarray, pv_w: float, live_row: np.ndarray) -> None:
    """What the device can discharge and charge now: its packs' limits within its AC limits, with its PV."""
    live_row[L_MAX_DISCHARGE_W] = max(min(live_row[L_PACKS_DISCHARGE_W], device_row[dp.DEV_AC_OUTPUT_LIMIT_W] - pv_w), 0.0)
    live_row[L_MAX_CHARGE_W] = min(live_row[L_PACKS_CHARGE_W], device_row[dp.DEV_AC_CHARGE_LIMIT_W] + pv_w)


@compiled_only_kernel
def _take_up_setpoints(d: int, t: float, ramp_step_w: float, state: HomeState) -> None:
    """Device ``d`` takes up the setpoints whose latency has passed and ramps its applied power towards them."""
    n = state.pending_n[d]
    taken = 0
    while taken < n and state.pending_t[d, taken] <= t + 1e-9:
        state.live[d, L_TARGET_W] = state.pending_w[d, taken]
        taken += 1
    if taken > 0:  # the rest move to the front
        for j in range(n - taken):
            state.pending_t[d, j] = state.pending_t[d, j + taken]
            state.pending_w[d, j] = state.pending_w[d, j + taken]
        state.pending_n[d] = n - taken
    gap = state.live[d, L_TARGET_W] - state.live[d, L_APPLIED_W]
    state.live[d, L_APPLIED_W] += min(max(gap, -ramp_step_w), ramp_step_w)


@compiled_only_kernel
def _write_setpoint(d: int, effect_t: float, setpoint_w: float, state: HomeState) -> None:
    """Queue device ``d``'s new setpoint to take effect at ``effect_t`` (the oldest is taken up early when full)."""
    if state.pending_n[d] == state.pending_t.shape[1]:
        state.live[d, L_TARGET_W] = state.pending_w[d, 0]
        for j in range(state.pending_n[d] - 1):
            state.pending_t[d, j] = state.pending_t[d, j + 1]
            state.pending_w[d, j] = state.pending_w[d, j + 1]
        state.pending_n[d] -= 1
    state.pending_t[d, state.pending_n[d]] = effect_t
    state.pending_w[d, state.pending_n[d]] = setpoint_w
    state.pending_n[d] += 1
    state.live[d, L_WRITES] += 1.0


@ir_inline_kernel  # one call site; the home decision it calls is a call of its own
def _decide(
    model: HomeModel, state: HomeState, scratch: HomeScratch, records: HomeRecords, k: int, t_end: float, step_s: float, row: int
) -> None:
    """The controller, on a meter reading: the home's battery request, the home decision, the writes."""
    n_dev = model.first.shape[0]
    seen = (k - model.latency_steps) % state.history.shape[1]
    measured_total = 0.0
    for d in range(n_dev):
        measured_total += state.history[d, seen]
    request = state.history[n_dev, seen] - model.grid_target_w + measured_total
    records.home[row, H_REQUEST_W] += request * model.period_steps  # a mean over the steps it stands for
    circ_dis = scratch.circuits[0]
    circ_chg = scratch.circuits[1]
    for c in range(model.circuit_max_w.shape[0]):
        circ_dis[c] = model.circuit_max_w[c]
        circ_chg[c] = model.circuit_max_w[c]
    hdev = scratch.hdev
    for d in range(n_dev):
        live = state.live[d]
        device_row = model.device[d]
        _ac_limits(device_row, live[L_PV_W], live)  # the pack view is the one at the end of this step
        hdev[d, hk.DEV_USABLE_WH] = live[L_USABLE_WH]
        hdev[d, hk.DEV_ROOM_WH] = live[L_ROOM_WH]
        hdev[d, hk.DEV_SOC_PCT] = live[L_SOC_EST_PCT]
        hdev[d, hk.DEV_RESERVE_PCT] = model.dyn[d, DYN_RESERVE_PCT]
        hdev[d, hk.DEV_MAX_DISCHARGE_W] = live[L_MAX_DISCHARGE_W]
        hdev[d, hk.DEV_MAX_CHARGE_W] = live[L_MAX_CHARGE_W]
        hdev[d, hk.DEV_RATED_DISCHARGE_W] = min(model.dyn[d, DYN_RATED_DISCHARGE_W], device_row[dp.DEV_AC_OUTPUT_LIMIT_W])
        charger_w = device_row[dp.DEV_AC_CHARGE_LIMIT_W] + live[L_PV_W]
        hdev[d, hk.DEV_RATED_CHARGE_W] = min(model.dyn[d, DYN_RATED_CHARGE_W], charger_w)
        hdev[d, hk.DEV_EFFICIENT_DISCHARGE_W] = model.dyn[d, DYN_EFFICIENT_DISCHARGE_W]
        hdev[d, hk.DEV_EFFICIENT_CHARGE_W] = model.dyn[d, DYN_EFFICIENT_CHARGE_W]
        hdev[d, hk.DEV_MEASURED_W] = state.history[d, seen]
        hdev[d, hk.DEV_ONLINE] = 1.0
        hdev[d, hk.DEV_CIRCUIT] = model.dyn[d, DYN_CIRCUIT]
        hdev[d, hk.DEV_MIN_WRITE_S] = model.dyn[d, DYN_MIN_WRITE_S]
        c = int(model.dyn[d, DYN_CIRCUIT])
        if c >= 0:  # a circuit carries AC power: PV on it takes room from discharging and gives it to charging
            circ_dis[c] = max(circ_dis[c] - live[L_PV_W], 0.0)
            circ_chg[c] += live[L_PV_W]
    decision_in = state.decision[0]
    decision_out = state.decision[1]
    period_s = model.period_steps * step_s
    hk.advance_timers(decision_in, period_s)
    hk.decide_home_with_scratch(
        hdev, decision_in, circ_dis, circ_chg, model.home_settings, request, period_s, scratch.hout[0], scratch.hints[0],
        scratch.hout[1], scratch.hout[2], scratch.hout[3], decision_out, scratch.hflags, scratch.hwork, scratch.hints[1],
        scratch.hints[2], scratch.circuits[4:],
    )  # fmt: skip
    _apply_decision(model, state, records, t_end, row)


@compiled_only_kernel
def _apply_decision(model: HomeModel, state: HomeState, records: HomeRecords, t_end: float, row: int) -> None:
    """Write every setpoint the decision changed (to take effect after the device's latency), count the writes,
    sign changes and staging switches, and make the decision's state out the next one's state in."""
    decision_in = state.decision[0]
    decision_out = state.decision[1]
    for d in range(model.first.shape[0]):
        old = decision_in[d, hk.ST_LAST_W]
        new = decision_out[d, hk.ST_LAST_W]
        if (decision_out[d, hk.ST_STAGED_ON] > 0.5) != (decision_in[d, hk.ST_STAGED_ON] > 0.5):
            records.home_stats[S_STAGE_SWITCHES] += 1.0
        written = decision_out[d, hk.ST_SINCE_WRITE_S] == 0.0 and new != old
        for col in range(hk.N_ST):
            decision_in[d, col] = decision_out[d, col]
        if written:
            if old * new < 0.0:
                records.home_stats[S_SETPOINT_SIGNS] += 1.0
            _write_setpoint(d, t_end + model.dyn[d, DYN_LATENCY_S], new, state)
            records.devices[row, d, DR_WRITES] += 1.0


@compiled_only_kernel
def _count_room(
    model: HomeModel,
    state: HomeState,
    circuit_headroom_w: np.ndarray,
    circuit_cap_w: np.ndarray,
    pv_exported_w: float,
    avoidable_export_w: float,
    headroom_w: float,
    to_wh: float,
) -> None:
    """Count this step's avoidable export against the devices' room, in proportion to the headroom each offered
    (within its circuit's cap), so a nearly full device is not counted for more than its room; the count restarts
    when no PV is exported."""
    for d in range(model.first.shape[0]):
        live = state.live[d]
        if pv_exported_w <= 0.0:
            live[L_COUNTED_ROOM_WH] = 0.0
            continue
        if avoidable_export_w <= 0.0:
            continue
        offered = live[L_CHARGE_HEADROOM_W]
        c = int(model.dyn[d, DYN_CIRCUIT])
        if c >= 0 and circuit_headroom_w[c] > 0.0:
            offered *= min(max(circuit_cap_w[c], 0.0) / circuit_headroom_w[c], 1.0)
        live[L_COUNTED_ROOM_WH] += offered * avoidable_export_w / headroom_w * to_wh


@compiled_only_kernel
def _in_outage(outages_s: np.ndarray, t: float) -> bool:
    """Whether a reading taken at ``t`` (s) falls in a meter outage (lost)."""
    for j in range(outages_s.shape[0]):
        if outages_s[j, 0] <= t < outages_s[j, 1]:
            return True
    return False


@loop_kernel
def advance_home(
    model: HomeModel,
    profiles: HomeProfiles,
    clock: sk.Clock,
    state: HomeState,
    scratch: HomeScratch,
    records: HomeRecords,
    k_start: int,
    k_end: int,
) -> None:
    """Steps ``k_start`` to ``k_end - 1`` of the home loop: advances ``state`` and fills ``records`` in place.

    Each step every device takes up the setpoints whose latency has passed and ramps its applied power
    towards them; its firmware serves that power (:func:`firmware_step`); the grid balances the house.
    The meter reads the grid every ``period_steps`` steps; a reading ``latency_steps`` old reaches the
    controller (:func:`_decide`). ``state.live`` holds each device's view of its packs as the previous step left
    them (:func:`pack_view`; :func:`socbal.home.engine.prepare_home` computes the first). Compiled without reference
    counting: it never allocates.
    """
    n_dev = model.first.shape[0]
    step_s = clock.step_s
    to_wh = step_s / 3600.0
    h_len = state.history.shape[1]
    n_circuits = model.circuit_max_w.shape[0]
    circuit_headroom_w = scratch.circuits[2]
    circuit_cap_w = scratch.circuits[3]
    intended_import_w = max(model.grid_target_w, 0.0)
    intended_export_w = max(-model.grid_target_w, 0.0)
    # Counters instead of an integer division per step: the record row, the step within it, the history slot and
    # the meter's phase (k - latency_steps modulo period_steps) of step k.
    steps_per_record = clock.steps_per_record
    row = k_start // steps_per_record
    in_row = k_start % steps_per_record
    slot = k_start % h_len
    meter_phase = (k_start - model.latency_steps) % model.period_steps
    for k in range(k_start, k_end):
        t = k * step_s
        t_end = t + step_s
        first_of_row = in_row == 0
        last_of_row = in_row == steps_per_record - 1 or k == k_end - 1  # end-of-interval values: written then
        load = value_at(profiles.load_w, profiles.load_step_s, t)
        net_w = 0.0  # the devices' net AC power into the house
        discharging_w = 0.0
        charging_w = 0.0
        headroom_dis_w = 0.0
        headroom_chg_w = 0.0
        pv_fed_w = 0.0  # PV that left the devices towards the house (after their own charging and main units)
        storage_ac_w = 0.0  # AC output from the devices' batteries
        ac_out_w = 0.0  # the devices' AC output (PV + batteries)
        for c in range(n_circuits):
            circuit_headroom_w[c] = 0.0
            circuit_cap_w[c] = model.circuit_max_w[c]
        spread_low = 100.0
        spread_high = 0.0
        for d in range(n_dev):
            m, st, sc = _views(model, state, scratch, d)
            live = state.live[d]
            pv_w = min(
                profiles.pv_w[d, min(int(t / profiles.pv_step_s[d]), profiles.pv_len[d] - 1)], m.device[dp.DEV_PV_INPUT_LIMIT_W]
            )
            live[L_PV_W] = pv_w
            _take_up_setpoints(d, t, model.dyn[d, DYN_RAMP_W_PER_S] * step_s, state)
            _ac_limits(m.device, pv_w, live)
            request_w = min(max(live[L_APPLIED_W], -live[L_MAX_CHARGE_W]), live[L_MAX_DISCHARGE_W])
            source = SOURCE_PV_AC if request_w < -pv_w else SOURCE_PV
            f = firmware_step(m, st, sc, request_w, source, request_w != 0.0 or pv_w > 0.0, True, pv_w, step_s)
            # Its AC side: PV + packs = AC output + charging + main unit (from the bus); the AC output limit curtails
            # PV; charging beyond PV draws from the grid through the AC charger.
            main_bus = 0.0 if f.stopped else f.main_from_bus_w
            ac_w = pv_w + f.discharged_w - f.charged_w - main_bus
            curtailed = max(ac_w - m.device[dp.DEV_AC_OUTPUT_LIMIT_W], 0.0)
            ac_w -= curtailed
            net_w += ac_w - f.main_from_grid_w
            storage_ac_w += max(min(ac_w, f.discharged_w - f.charged_w - main_bus), 0.0)
            ac_out_w += max(ac_w, 0.0)
            battery = f.discharged_w - f.charged_w
            live[L_BATTERY_W] = battery
            dev = records.device[row, d]
            dev[sk.D_PV] += pv_w * to_wh
            dev[sk.D_CURTAILED] += curtailed * to_wh
            dev[sk.D_OUTPUT] += max(ac_w, 0.0) * to_wh
            dev[sk.D_GRID_DEVICE] += (max(-ac_w, 0.0) + f.main_from_grid_w) * to_wh
            dev[sk.D_MAIN] += (f.main_from_grid_w + main_bus + f.main_from_battery_w) * to_wh
            dev[sk.D_MAIN_BUS] += main_bus * to_wh
            dev[sk.D_MAIN_BATT] += f.main_from_battery_w * to_wh
            dev[sk.D_DISCHARGE] += f.discharged_w * to_wh
            dev[sk.D_CHARGE] += f.charged_w * to_wh
            dev[sk.D_BATT_UNSERVED] += max(request_w - f.discharged_w, 0.0) * to_wh
            if f.stopped:
                dev[sk.D_STOPPED] += step_s
            dev[sk.D_GRID_ON] += step_s
            a = model.first[d]
            sk.record_packs(st, sc, rows(records.pack[row], a, a + model.n_packs[d]), first_of_row, last_of_row, step_s)
            discharging_w += fmax(battery, 0.0)  # selects: the devices of one step go either way
            charging_w -= fmin(battery, 0.0)
            if live[L_USABLE_WH] > 0.0:
                headroom_dis_w += max(live[L_MAX_DISCHARGE_W] - max(battery, 0.0), 0.0)
            pv_fed_w += max(pv_w - curtailed - f.charged_w - main_bus, 0.0)
            # Charge headroom: what it could still charge within its limits now (its AC charger and its own PV) and
            # within the room not yet counted in this run of export; on a circuit, all of its devices together within
            # the circuit's limit (their PV gives room).
            room_left_wh = max(live[L_ROOM_WH] - live[L_COUNTED_ROOM_WH], 0.0)
            headroom = min(max(live[L_MAX_CHARGE_W] - max(-battery, 0.0), 0.0), room_left_wh / to_wh)
            live[L_CHARGE_HEADROOM_W] = headroom
            c = int(model.dyn[d, DYN_CIRCUIT])
            if c >= 0:
                circuit_headroom_w[c] += headroom
                circuit_cap_w[c] += pv_w - max(-battery, 0.0)
            else:
                headroom_chg_w += headroom
            state.history[d, slot] = battery - main_bus  # what its setpoint moves: its main unit's bus draw apart
            # The device's view of its packs for the next step (and the controller; the headroom above still used the
            # one this step started with), and its packs' spreads and SOC.
            spread_true, spread_est, soc_true = pack_view(
                m, st, int(model.dyn[d, DYN_FIRMWARE]), model.dyn[d, DYN_RESERVE_PCT], live
            )
            spread_low = min(spread_low, soc_true)
            spread_high = max(spread_high, soc_true)
            sk.update_stats(st, records.stats[d], spread_true, spread_est, t_end)
            drow = records.devices[row, d]
            if last_of_row:
                dev[sk.D_SPREAD_TRUE] = spread_true
                dev[sk.D_SPREAD_EST] = spread_est
                dev[sk.D_TOTAL_SOC] = soc_true
                drow[DR_SOC_TRUE] = soc_true
                drow[DR_SOC_EST] = live[L_SOC_EST_PCT]
                drow[DR_WEAKEST] = live[L_WEAKEST_PCT]
            drow[DR_BATTERY_W] += battery
            drow[DR_AC_OUTPUT_W] += ac_w
            drow[DR_STAGED_S] += step_s if state.decision[0, d, hk.ST_STAGED_ON] > 0.5 else 0.0
        for c in range(n_circuits):
            headroom_chg_w += min(circuit_headroom_w[c], max(circuit_cap_w[c], 0.0))
        grid = load - net_w
        state.history[n_dev, slot] = grid
        grid_import = max(grid, 0.0)
        export = max(-grid, 0.0)
        avoidable_import = min(max(grid_import - intended_import_w, 0.0), headroom_dis_w)
        pv_exported = max(min(export, pv_fed_w) - intended_export_w, 0.0)
        avoidable_export = min(pv_exported, headroom_chg_w)
        _count_room(model, state, circuit_headroom_w, circuit_cap_w, pv_exported, avoidable_export, headroom_chg_w, to_wh)
        hrow = records.home[row]
        hrow[H_LOAD] += load * to_wh
        hrow[H_IMPORT] += grid_import * to_wh
        hrow[H_EXPORT] += export * to_wh
        pool_w = grid_import + ac_out_w  # what flows into the house's AC: load, export and device draws share it
        if pool_w > 0.0:
            hrow[H_SERVED] += load * storage_ac_w / pool_w * to_wh
        hrow[H_STORAGE_AC] += storage_ac_w * to_wh
        hrow[H_AVOIDABLE_IMPORT] += avoidable_import * to_wh
        hrow[H_AVOIDABLE_EXPORT] += avoidable_export * to_wh
        hrow[H_CROSS] += min(discharging_w, charging_w) * to_wh
        hrow[H_GRID_W] += grid
        # Handover gap: consecutive steps of avoidable import; oscillation: sign changes of the grid power.
        state.runs[R_GAP_S] = state.runs[R_GAP_S] + step_s if avoidable_import > GAP_THRESHOLD_W else 0.0
        records.home_stats[S_GAP] = max(records.home_stats[S_GAP], state.runs[R_GAP_S])
        if abs(grid) > SIGN_THRESHOLD_W:
            sign = 1.0 if grid > 0.0 else -1.0
            if state.runs[R_GRID_SIGN] != 0.0 and sign != state.runs[R_GRID_SIGN]:
                records.home_stats[S_GRID_SIGNS] += 1.0
            state.runs[R_GRID_SIGN] = sign
        # The controller: a reading taken latency_steps ago arrives every period_steps, unless the meter was out then.
        if k >= model.latency_steps and meter_phase == 0:
            taken_s = t_end - model.latency_steps * step_s
            if not _in_outage(model.meter_outages_s, taken_s - step_s):
                state.runs[R_READING_T_S] = taken_s
                state.runs[R_FAILED_SAFE] = 0.0
                _decide(model, state, scratch, records, k, t_end, step_s, row)
        if t_end - state.runs[R_READING_T_S] > model.stale_after_s + 1e-9:  # fail-safe: every device to 0 W, once
            records.home_stats[S_STALE] += step_s
            if state.runs[R_FAILED_SAFE] == 0.0:
                state.runs[R_FAILED_SAFE] = 1.0
                hk.stop_every_device(state.decision[0], state.decision[1])
                _apply_decision(model, state, records, t_end, row)
        if last_of_row:
            for d in range(n_dev):
                records.devices[row, d, DR_SETPOINT_W] = state.decision[0, d, hk.ST_LAST_W]
        hrow[H_SPREAD] = spread_high - spread_low
        records.home_stats[S_SPREAD_MAX] = max(records.home_stats[S_SPREAD_MAX], spread_high - spread_low)
        in_row += 1
        if in_row == steps_per_record:
            in_row = 0
            row += 1
        slot = slot + 1 if slot + 1 < h_len else 0
        meter_phase = meter_phase + 1 if meter_phase + 1 < model.period_steps else 0


def finish_home(home_rec: np.ndarray, devices_rec: np.ndarray, n_steps: int, steps_per_record: int) -> None:
    """Turn the per-row sums of powers into means (in place), once every step has run (plain numpy: no compile)."""
    steps_in_row = np.minimum(steps_per_record, n_steps - np.arange(home_rec.shape[0]) * steps_per_record)
    for column in (H_GRID_W, H_REQUEST_W):
        home_rec[:, column] /= steps_in_row
    for column in (DR_BATTERY_W, DR_AC_OUTPUT_W):
        devices_rec[:, :, column] /= steps_in_row[:, None]
