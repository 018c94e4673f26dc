"""One home decision from validated models: the readable face of :mod:`socbal.home.kernel`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from socbal.ems.decision import state_of
from socbal.home import kernel
from socbal.home.models import DeviceState, HomeAllocateInput, HomeSettings
from socbal.jit import python_function

#: Reasons of a device that cannot take part this cycle: the most it could get is 0 W, whatever its own limit.
_NOT_TAKING_PART = frozenset((kernel.REASON_AT_RESERVE, kernel.REASON_FULL, kernel.REASON_EXCLUDED))


@dataclass(frozen=True)
class DeviceDecision:
    """One device's setpoint and why (power in W, + discharge / - charge), and its state for the next decision."""

    id: str
    power_w: float
    state: str  # "discharging", "charging" or "standby"
    weight: float  # its weight in the split (usable energy, room, 1, or rated power x SOC); 0 when not sharing
    limit_w: float  # the most it could get this cycle (device limit, ramp; 0 when it cannot take part), W
    credited_w: float  # what of its setpoint counts as served, W (magnitude)
    reason: str
    written: bool  # its setpoint changed: the driver writes it
    staged_on: bool  # feed these five back as DeviceState fields in the next decision
    since_stage_change_s: float
    since_write_s: float
    last_setpoint_w: float
    last_moving_setpoint_w: float


@dataclass(frozen=True)
class HomeDecision:
    """Setpoints for every device, in input order, and what could not be served (W)."""

    devices: tuple[DeviceDecision, ...]
    served_w: float
    unserved_w: float

    def to_contract(self, explain: bool = False) -> dict:
        """The ``socbal allocate`` output for a home; ``explain`` adds weight, limit, reason, write and state."""
        devices = []
        for d in self.devices:
            item: dict = {"id": d.id, "power_w": d.power_w, "state": d.state}
            if explain:
                item.update(
                    weight=d.weight,
                    limit_w=d.limit_w,
                    credited_w=d.credited_w,
                    reason=d.reason,
                    written=d.written,
                    staged_on=d.staged_on,
                    since_stage_change_s=d.since_stage_change_s,
                    since_write_s=d.since_write_s,
                    last_setpoint_w=d.last_setpoint_w,
                    last_moving_setpoint_w=d.last_moving_setpoint_w,
                )
            devices.append(item)
        return {"devices": devices, "served_w": self.served_w, "unserved_w": self.unserved_w}


def settings_vector(s: HomeSettings) -> np.ndarray:
    """The kernel's settings vector (``kernel.HS_*``) for ``s``."""
    v = np.zeros(kernel.N_HS)
    v[kernel.HS_STRATEGY] = kernel.STRATEGY_CODES[s.strategy]
    v[kernel.HS_STAGING] = kernel.STAGING_CODES[s.staging]
    v[kernel.HS_STAGE_UP_PCT] = s.stage_up_pct
    v[kernel.HS_STAGE_DOWN_PCT] = s.stage_down_pct
    v[kernel.HS_HOLD_S] = s.hold_s
    v[kernel.HS_SOC_LEAD_PCT] = s.soc_lead_pct
    v[kernel.HS_HANDOVER_LEAD_S] = s.handover_lead_s
    v[kernel.HS_DEADBAND_W] = s.deadband_w
    v[kernel.HS_RAMP_W_PER_S] = s.ramp_w_per_s
    v[kernel.HS_FOLLOW_S] = s.follow_s
    v[kernel.HS_FOLLOW_TOL_W] = s.follow_tolerance_w
    return v


def device_matrix(devices: list[DeviceState], circuit_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The kernel's device rows (``kernel.DEV_*``) and state rows (``kernel.ST_*``)."""
    dev = np.zeros((len(devices), kernel.N_DEV))
    state = np.zeros((len(devices), kernel.N_ST))
    for i, d in enumerate(devices):
        dev[i, kernel.DEV_USABLE_WH] = d.usable_wh
        dev[i, kernel.DEV_ROOM_WH] = d.room_wh
        dev[i, kernel.DEV_SOC_PCT] = d.soc_pct
        dev[i, kernel.DEV_RESERVE_PCT] = d.reserve_pct
        dev[i, kernel.DEV_MAX_DISCHARGE_W] = d.max_discharge_w
        dev[i, kernel.DEV_MAX_CHARGE_W] = d.max_charge_w
        dev[i, kernel.DEV_RATED_DISCHARGE_W] = d.max_discharge_w if d.rated_discharge_w is None else d.rated_discharge_w
        dev[i, kernel.DEV_RATED_CHARGE_W] = d.max_charge_w if d.rated_charge_w is None else d.rated_charge_w
        dev[i, kernel.DEV_MEASURED_W] = d.last_setpoint_w if d.measured_w is None else d.measured_w
        dev[i, kernel.DEV_ONLINE] = float(d.online)
        dev[i, kernel.DEV_CIRCUIT] = -1 if d.circuit is None else circuit_ids.index(d.circuit)
        dev[i, kernel.DEV_MIN_WRITE_S] = d.min_write_interval_s
        # Unknown (None): filled up to its rating before the next device gets power (0 W: no fill, shared by weight)
        dev[i, kernel.DEV_EFFICIENT_DISCHARGE_W] = (
            dev[i, kernel.DEV_RATED_DISCHARGE_W] if d.efficient_discharge_w is None else d.efficient_discharge_w
        )
        dev[i, kernel.DEV_EFFICIENT_CHARGE_W] = (
            dev[i, kernel.DEV_RATED_CHARGE_W] if d.efficient_charge_w is None else d.efficient_charge_w
        )
        state[i, kernel.ST_STAGED_ON] = float(d.staged_on)
        state[i, kernel.ST_SINCE_STAGE_S] = d.since_stage_change_s
        state[i, kernel.ST_SINCE_WRITE_S] = d.since_write_s
        state[i, kernel.ST_LAST_W] = d.last_setpoint_w
        state[i, kernel.ST_LAST_MOVING_W] = d.last_moving_setpoint_w
    return dev, state


def decide_home(inp: HomeAllocateInput) -> HomeDecision:
    """Split the home's request among its devices per the settings (see :func:`kernel.decide_home_with_scratch`)."""
    n = len(inp.devices)
    dev, state = device_matrix(inp.devices, [c.id for c in inp.circuits])
    circuit_w = np.array([c.max_w for c in inp.circuits], dtype=np.float64)
    power = np.zeros(n)
    reason = np.zeros(n, dtype=np.int64)
    weight = np.zeros(n)
    limit = np.zeros(n)
    credited = np.zeros(n)
    state_out = np.zeros_like(state)
    flags, work, order, circuit, circuit_work = python_function(kernel.home_scratch)(n, len(inp.circuits))
    served = kernel.decide_home_with_scratch(
        dev,
        state,
        circuit_w,
        circuit_w,
        settings_vector(inp.settings),
        float(inp.request.signed_w),
        float(inp.cycle_s),
        power,
        reason,
        weight,
        limit,
        credited,
        state_out,
        flags,
        work,
        order,
        circuit,
        circuit_work,
    )
    decisions = tuple(
        DeviceDecision(
            id=d.id,
            power_w=float(power[i]) + 0.0,
            state=state_of(float(power[i])),
            weight=float(weight[i]),
            limit_w=0.0 if int(reason[i]) in _NOT_TAKING_PART else float(limit[i]),
            credited_w=float(credited[i]),
            reason=kernel.REASON_TEXT[int(reason[i])],
            written=bool(state_out[i, kernel.ST_SINCE_WRITE_S] == 0.0 and power[i] != state[i, kernel.ST_LAST_W]),
            staged_on=bool(state_out[i, kernel.ST_STAGED_ON] > 0.5),
            since_stage_change_s=float(state_out[i, kernel.ST_SINCE_STAGE_S]),
            since_write_s=float(state_out[i, kernel.ST_SINCE_WRITE_S]),
            last_setpoint_w=float(state_out[i, kernel.ST_LAST_W]) + 0.0,
            last_moving_setpoint_w=float(state_out[i, kernel.ST_LAST_MOVING_W]) + 0.0,
        )
        for i, d in enumerate(inp.devices)
    )
    requested = abs(inp.request.signed_w)
    return HomeDecision(devices=decisions, served_w=float(served), unserved_w=float(max(requested - served, 0.0)))
