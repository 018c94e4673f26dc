"""One device over one step, as its firmware runs it: limits -> main unit -> EMS -> pack physics -> BMS estimate.

The one-device simulator calls :func:`firmware_step` after the device's own dispatch has
decided the battery request; a home simulation calls it with the request its home decision
gives each device. State and scratch are plain arrays bundled in NamedTuples; nothing in a
step allocates (see :mod:`socbal.jit`); the set-up (:func:`state_from_energy`, :func:`step_scratch`)
is plain numpy, so it costs the first run no compile.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from socbal.device.limits import charge_limit_w, discharge_limit_w
from socbal.device.main_unit import main_unit_supply_w
from socbal.device.params import (
    DEV_ACTIVE_W,
    DEV_AUX_MODULE,
    DEV_STANDBY_W,
    EMS_DROOP_EXPONENT,
    EMS_HYSTERESIS_PCT,
    EMS_LOW_PACKS_FIRST,
    EMS_MIN_MODULE_LOAD_PCT,
    EMS_RESERVE_PCT,
    EMS_STRATEGY,
    PARAM_BELIEVED_CAPACITY_WH,
    PARAM_BELIEVED_PER_TRUE,
    PARAM_CAPACITY_WH,
    PARAM_EST_SOC_PER_WH,
    PARAM_I2R_PER_W2,
    PARAM_INV_MAX_CHARGE_PER_W,
    PARAM_INV_MAX_DISCHARGE_PER_W,
    PARAM_MAX_CHARGE_W,
    PARAM_MAX_DISCHARGE_W,
    PARAM_RATED_CELL_W,
    PARAM_SENSOR_DEADBAND_W,
    PARAM_SENSOR_GAIN_ERROR,
    PARAM_SENSOR_OFFSET_W,
    PARAM_SOC_PER_WH,
    PARAM_STANDBY_W,
    DeviceModel,
)
from socbal.device.physics import bms_step, cut_off, step_pack
from socbal.ems.kernel import allocate_with_scratch, reserve_latched_next
from socbal.jit import fmax, fmin, ir_inline_kernel, python_function

#: Bus supply this far (W) below the main unit's bus draw means nothing on the bus can feed it.
_MAIN_UNIT_EPS_W = 1e-6


class DeviceState(NamedTuple):
    """What a device carries from one step to the next (one entry per pack; ``backup_on`` has one)."""

    capacity_wh: np.ndarray  # true usable capacity
    believed_capacity_wh: np.ndarray  # capacity the BMS and EMS believe
    energy_wh: np.ndarray  # true energy in the cells
    energy_est_wh: np.ndarray  # the BMS's estimate, of the believed capacity
    soc_true_pct: np.ndarray
    soc_est_pct: np.ndarray
    latched: np.ndarray  # bool: held at the backup reserve (hysteresis)
    empty: np.ndarray  # bool: BMS cut-off, cells empty
    full: np.ndarray  # bool: BMS cut-off, cells full
    backup_on: np.ndarray  # bool[1]: AC backup charging is running


class StepScratch(NamedTuple):
    """Per-pack working arrays of one step; after :func:`firmware_step` the ``*_w`` rows hold its results."""

    limit_dis_w: np.ndarray
    limit_chg_w: np.ndarray
    power_w: np.ndarray  # EMS setpoint, + discharge / - charge
    weight: np.ndarray
    reason: np.ndarray  # int64: the EMS's REASON_* code
    eligible: np.ndarray
    member: np.ndarray
    active: np.ndarray
    limit: np.ndarray
    use: np.ndarray
    tier: np.ndarray
    bus_w: np.ndarray  # delivered (+) or taken (-) on the bus
    dcdc_loss_w: np.ndarray
    i2r_loss_w: np.ndarray
    standby_w: np.ndarray  # the pack's own standby draw
    main_unit_w: np.ndarray  # the main unit's draw taken straight from this battery (main battery only)
    cell_w: np.ndarray  # what left the cells (W, standby included): the estimator's input


class StepFlows(NamedTuple):
    """What one step of a device did, as a whole (W)."""

    discharged_w: float  # bus side, all packs
    charged_w: float  # bus side, all packs
    main_from_grid_w: float
    main_from_bus_w: float
    main_from_battery_w: float
    stopped: bool  # nothing could feed the main unit: the device did not operate


def initial_state(model: DeviceModel, soc_true_pct: np.ndarray, soc_est_pct: np.ndarray) -> DeviceState:
    """The state at the start: energies from the SOCs, reserve latches and cut-offs as the BMS sees them."""
    capacity = np.ascontiguousarray(model.params[:, PARAM_CAPACITY_WH])
    believed = np.ascontiguousarray(model.params[:, PARAM_BELIEVED_CAPACITY_WH])
    return state_from_energy(
        capacity, believed, soc_true_pct / 100.0 * capacity, soc_est_pct / 100.0 * believed, model.ems[EMS_RESERVE_PCT],
        model.ems[EMS_HYSTERESIS_PCT],
    )  # fmt: skip


def state_from_energy(
    capacity_wh: np.ndarray,
    believed_capacity_wh: np.ndarray,
    energy_wh: np.ndarray,
    energy_est_wh: np.ndarray,
    reserve_pct: float,
    hysteresis_pct: float,
) -> DeviceState:
    """A fresh state (new arrays) from the packs' true and estimated energies, Wh."""
    n = energy_wh.shape[0]
    state = DeviceState(
        np.array(capacity_wh, dtype=np.float64),
        np.array(believed_capacity_wh, dtype=np.float64),
        np.array(energy_wh, dtype=np.float64),
        np.array(energy_est_wh, dtype=np.float64),
        100.0 * energy_wh / capacity_wh,
        100.0 * energy_est_wh / believed_capacity_wh,
        np.zeros(n, dtype=np.bool_),
        np.zeros(n, dtype=np.bool_),
        np.zeros(n, dtype=np.bool_),
        np.zeros(1, dtype=np.bool_),
    )
    latched_next = python_function(reserve_latched_next)
    cut = python_function(cut_off)
    for i in range(n):
        state.latched[i] = latched_next(state.soc_est_pct[i], False, reserve_pct, hysteresis_pct)
        state.empty[i], state.full[i] = cut(energy_wh[i], capacity_wh[i])
    return state


def step_scratch(n_packs: int) -> StepScratch:
    """Empty scratch for ``n_packs`` packs (``reason`` and ``tier`` int64, ``eligible, member, active`` bool)."""
    types = {"reason": np.int64, "tier": np.int64, "eligible": np.bool_, "member": np.bool_, "active": np.bool_}
    return StepScratch(*(np.zeros(n_packs, dtype=types.get(name, np.float64)) for name in StepScratch._fields))


@ir_inline_kernel  # one call site in each loop (one device, a home)
def firmware_step(
    model: DeviceModel,
    state: DeviceState,
    scratch: StepScratch,
    request_w: float,
    source: int,
    operating: bool,
    grid_on: bool,
    pv_w: float,
    step_s: float,
) -> StepFlows:
    """Serve the battery request ``request_w`` (W, + discharge / - charge from ``source``) for one step.

    The EMS shares it, plus the main unit's draw when that comes from the bus, between the packs
    within their period limits; each pack is then stepped through its DC-DC, I^2 R loss and standby
    draw, and its BMS estimate, cut-off flags and reserve latch are updated in ``state``. ``pv_w`` is
    the PV power on the bus (W): with the packs' it must cover the main unit's bus draw, or the
    device stops (no pack moves, the main unit falls back to deep standby on its own battery).
    """
    params = model.params
    ems = model.ems
    n = params.shape[0]
    reserve = ems[EMS_RESERVE_PCT]
    hysteresis = ems[EMS_HYSTERESIS_PCT]
    aux = model.device[DEV_AUX_MODULE] > 0.5
    active_w = model.device[DEV_ACTIVE_W]
    standby_w = model.device[DEV_STANDBY_W]
    from_grid, from_bus, from_battery = main_unit_supply_w(operating, grid_on, aux, active_w, standby_w)
    bus_request_w = request_w + from_bus

    # The EMS reads only the limit in the request's direction, so only that one is computed.
    for i in range(n):
        if bus_request_w > 0.0:
            scratch.limit_dis_w[i] = discharge_limit_w(
                state.soc_est_pct[i],
                reserve,
                state.believed_capacity_wh[i],
                step_s,
                params[i, PARAM_MAX_DISCHARGE_W],
                params[i, PARAM_INV_MAX_DISCHARGE_PER_W],
                model.curve_load[i],
                model.curve_eff[i],
                model.curve_slope[i],
                params[i, PARAM_I2R_PER_W2],
                params[i, PARAM_RATED_CELL_W],
                state.empty[i],
            )
        else:
            scratch.limit_chg_w[i] = charge_limit_w(
                state.soc_est_pct[i],
                state.believed_capacity_wh[i],
                step_s,
                params[i, PARAM_MAX_CHARGE_W],
                params[i, PARAM_STANDBY_W],
                state.full[i],
            )
    served_w = allocate_with_scratch(
        state.soc_est_pct,
        state.believed_capacity_wh,
        scratch.limit_dis_w,
        scratch.limit_chg_w,
        state.latched,
        model.priority_rank,
        reserve,
        hysteresis,
        np.int64(ems[EMS_STRATEGY]),  # type: ignore[arg-type]  # not int(): its overload compiles a function
        ems[EMS_DROOP_EXPONENT],
        bus_request_w,
        source,
        ems[EMS_LOW_PACKS_FIRST] > 0.5,
        ems[EMS_MIN_MODULE_LOAD_PCT],
        scratch.power_w,
        scratch.weight,
        scratch.reason,
        scratch.eligible,
        scratch.member,
        scratch.active,
        scratch.limit,
        scratch.use,
        scratch.tier,
    )
    stopped = from_bus > 0.0 and bus_request_w > 0.0 and served_w + pv_w < from_bus - _MAIN_UNIT_EPS_W
    if stopped:  # nothing on the bus can feed the main unit: the device stops, the main unit goes to deep standby
        for i in range(n):
            scratch.power_w[i] = 0.0
    at_work = operating and not stopped and (served_w != 0.0 or pv_w > 0.0)  # no pack moves, no PV: the main unit
    if at_work != operating:  # rests, however it is fed (a bool, not a literal False: one signature)
        from_grid, from_bus, from_battery = main_unit_supply_w(at_work, grid_on, aux, active_w, standby_w)

    discharged_w, charged_w, from_battery = step_packs(model, state, scratch, from_battery, step_s)
    if from_bus > 0.0 and bus_request_w > 0.0:  # a pack that ran empty within the step gave less than its setpoint:
        from_bus = fmin(from_bus, fmax(pv_w + discharged_w - charged_w, 0.0))  # the main unit gets only what was there
    return StepFlows(discharged_w, charged_w, from_grid, from_bus, from_battery, stopped)


@ir_inline_kernel  # one call site (firmware_step); the emulator calls it from Python
def step_packs(
    model: DeviceModel, state: DeviceState, scratch: StepScratch, main_from_battery_w: float, step_s: float
) -> tuple[float, float, float]:
    """Step every pack at its setpoint ``scratch.power_w`` (W) for ``step_s``, the main battery also feeding
    ``main_from_battery_w`` (W) straight to the main unit; updates ``state`` and the result rows of ``scratch``.

    Returns ``(discharged_w, charged_w, main_from_battery_w)``: bus-side totals and what the main
    battery really gave the main unit (less when it is empty).
    """
    params = model.params
    reserve = model.ems[EMS_RESERVE_PCT]
    hysteresis = model.ems[EMS_HYSTERESIS_PCT]
    from_battery = main_from_battery_w
    discharged = 0.0
    charged = 0.0
    for i in range(params.shape[0]):
        own_standby_w = params[i, PARAM_STANDBY_W]
        main_part_w = from_battery if i == 0 else 0.0
        inv_rated_per_w = (
            params[i, PARAM_INV_MAX_DISCHARGE_PER_W] if scratch.power_w[i] > 0.0 else params[i, PARAM_INV_MAX_CHARGE_PER_W]
        )
        energy_after, bus_w, battery_w, loss_w, i2r_w, standby_actual_w = step_pack(
            state.energy_wh[i],
            state.capacity_wh[i],
            scratch.power_w[i],
            own_standby_w + main_part_w,
            step_s,
            inv_rated_per_w,
            model.curve_load[i],
            model.curve_eff[i],
            model.curve_slope[i],
            params[i, PARAM_I2R_PER_W2],
        )
        state.energy_wh[i] = energy_after
        scratch.cell_w[i] = battery_w + standby_actual_w
        # An empty main battery cannot feed the main unit: it gets what is there (own standby first).
        main_actual_w = fmin(fmax(standby_actual_w - own_standby_w, 0.0), main_part_w)
        scratch.bus_w[i] = bus_w
        scratch.dcdc_loss_w[i] = loss_w - i2r_w
        scratch.i2r_loss_w[i] = i2r_w
        scratch.standby_w[i] = standby_actual_w - main_actual_w
        scratch.main_unit_w[i] = main_actual_w
        if i == 0:
            from_battery = main_actual_w
        if bus_w > 0.0:
            discharged += bus_w
        else:
            charged -= bus_w
    # The BMS of every pack in a loop of its own: each loop's body is short enough for the CPU to run several
    # packs at once (one loop of both took 9 % longer per pack-step, the same numbers).
    for i in range(params.shape[0]):
        energy_after = state.energy_wh[i]
        state.energy_est_wh[i], state.empty[i], state.full[i] = bms_step(
            state.energy_est_wh[i],
            scratch.cell_w[i],
            energy_after,
            state.capacity_wh[i],
            state.believed_capacity_wh[i],
            step_s,
            params[i, PARAM_SENSOR_OFFSET_W],
            params[i, PARAM_SENSOR_GAIN_ERROR],
            params[i, PARAM_SENSOR_DEADBAND_W],
            params[i, PARAM_BELIEVED_PER_TRUE],
        )
        state.soc_true_pct[i] = energy_after * params[i, PARAM_SOC_PER_WH]
        state.soc_est_pct[i] = state.energy_est_wh[i] * params[i, PARAM_EST_SOC_PER_WH]
        state.latched[i] = reserve_latched_next(state.soc_est_pct[i], state.latched[i], reserve, hysteresis)
    return discharged, charged, from_battery
