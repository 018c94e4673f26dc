"""One control cycle as a pure function.

:func:`plan_cycle` turns a telemetry snapshot into per-pack setpoints: it drops
packs whose telemetry is bad (offline: setpoint 0), asks the device dispatch for
the battery request (the same :func:`socbal.device.dispatch.device_request` the
simulator uses), calls the EMS (:func:`socbal.ems.decision.decide`) for the
packs online, and passes every setpoint through the fail-safe clamp. No I/O,
no clock: the caller gives the time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from socbal.device.dispatch import MODE_CODES, device_request
from socbal.device.limits import charge_limit_w, discharge_limit_w
from socbal.device.main_unit import main_unit_supply_w
from socbal.device.physics import curve_slopes, i2r_coefficient_per_w, inverse_rating_per_w
from socbal.ems.decision import decide
from socbal.ems.kernel import SOURCE_CODES, reserve_latched_next, total_soc_pct
from socbal.ems.models import AllocateInput, PackState, Request, Settings, SourceName
from socbal.runtime.config import RuntimeConfig
from socbal.runtime.telemetry import MAX_PLAUSIBLE_W, Telemetry, clamp_setpoint, device_fault, pack_fault

SOURCE_NAMES: dict[int, SourceName] = {code: name for name, code in SOURCE_CODES.items()}  # type: ignore[misc]


@dataclass
class CyclePlan:
    """What one cycle decided (power in W, + discharge / - charge)."""

    setpoints_w: dict[str, float]
    faults: dict[str, str] = field(default_factory=dict)  # pack id / "device" / "link" -> "<kind>: details"
    soc_pct: dict[str, float] = field(default_factory=dict)  # packs online only
    power_w: dict[str, float] = field(default_factory=dict)  # measured pack power, packs online only
    grid_w: float | None = None  # measured grid power (+ import), when the device reports it and its telemetry is good
    latched: dict[str, bool] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    request_w: float = 0.0
    served_w: float = 0.0
    unserved_w: float = 0.0
    backup_charging: bool = False  # AC backup charging from the grid is running

    @property
    def online(self) -> list[str]:
        """Ids of the packs that took part in the decision."""
        return list(self.soc_pct)


def plan_cycle(
    cfg: RuntimeConfig, settings: Settings, tel: Telemetry, now_s: float, latched: dict[str, bool], backup_was_on: bool = False
) -> CyclePlan:
    """Setpoints for every configured pack from one telemetry snapshot (see the module docstring).

    ``latched`` and ``backup_was_on`` carry the previous cycle's reserve latches and AC backup charging.
    """
    plan = CyclePlan(setpoints_w={p.id: 0.0 for p in cfg.packs}, latched=dict(latched))
    if "link" in tel.errors:  # nothing is known: everything stays at 0 and only the link fault counts
        plan.faults["link"] = tel.errors["link"]
        return plan
    max_age = cfg.runtime.max_telemetry_age_s
    reserve = settings.backup_reserve_pct
    step_s = cfg.runtime.period_s
    states: list[PackState] = []
    limits: dict[str, tuple[float, float]] = {}
    for p in cfg.packs:
        fault = tel.errors.get(p.id) or pack_fault(tel.packs.get(p.id), now_s, max_age)
        if fault:
            plan.faults[p.id] = fault
            continue
        r = tel.packs[p.id]
        assert r is not None  # pack_fault reports a missing reading
        dis = min(r.max_discharge_w, p.max_discharge_w)
        chg = min(r.max_charge_w, p.max_charge_w)
        limits[p.id] = (dis, chg)
        # never past the reserve or 100 % within one period (as the device reports SOC): the simulator's rule
        curve_load, curve_eff = p.curve_arrays()
        dis_step = min(
            dis,
            discharge_limit_w(
                r.soc_pct, reserve, p.capacity_wh, step_s, p.max_discharge_w, float(inverse_rating_per_w(p.max_discharge_w)),
                curve_load, curve_eff, curve_slopes(curve_load, curve_eff),
                float(i2r_coefficient_per_w(p.internal_resistance_ohm, p.nominal_voltage_v)), -1.0, False,
            ),
        )  # fmt: skip
        chg_step = min(chg, charge_limit_w(r.soc_pct, p.capacity_wh, step_s, p.max_charge_w, p.standby_w, False))
        was = latched.get(p.id)
        if was is None:
            was = bool(reserve_latched_next(r.soc_pct, False, reserve, settings.reserve_hysteresis_pct))
        states.append(
            PackState(
                id=p.id,
                soc_pct=r.soc_pct,
                capacity_wh=p.capacity_wh,
                max_discharge_w=dis_step,
                max_charge_w=chg_step,
                reserve_latched=was,
            )
        )
        plan.soc_pct[p.id] = r.soc_pct
        plan.power_w[p.id] = r.power_w
    dev_problem = tel.errors.get("device") or device_fault(tel.device, now_s, max_age)
    if dev_problem:
        plan.faults["device"] = dev_problem
        return plan
    dev = tel.device
    assert dev is not None  # device_fault reports a missing reading
    if dev.grid_w is not None and math.isfinite(dev.grid_w) and abs(dev.grid_w) <= MAX_PLAUSIBLE_W:
        plan.grid_w = dev.grid_w
    if not states:
        return plan
    caps = {p.id: p.capacity_wh for p in cfg.packs}
    online_soc = np.array([st.soc_pct for st in states])
    online_capacity = np.array([caps[st.id] for st in states])
    d = cfg.device
    dispatch = device_request(
        float(dev.load_w),
        float(dev.pv_w),
        bool(dev.grid_on),
        total_soc_pct(online_soc, online_capacity),
        float(online_capacity.sum()),
        MODE_CODES[d.mode],
        d.fixed_output_w,
        d.ac_output_limit_w,
        d.pv_input_limit_w,
        d.ac_charge_limit_w,
        reserve,
        settings.backup_band_pct,
        backup_was_on,
        step_s,
    )
    plan.backup_charging = bool(dispatch.backup)
    # The main unit's bus draw is part of what the packs are asked for (socbal.device.main_unit), as in the simulator.
    operating = dispatch.request_w != 0.0 or dispatch.pv_usable_w > 0.0
    _, from_bus_w, _ = main_unit_supply_w(operating, bool(dev.grid_on), d.aux_power_module, d.active_w, d.standby_w)
    request_w = dispatch.request_w + from_bus_w
    if request_w >= 0.0:
        request = Request(discharge_w=float(request_w))
    else:
        request = Request(charge_w=float(-request_w), source=SOURCE_NAMES[dispatch.source])
    used = settings
    if settings.priority is not None:
        online_ids = {s.id for s in states}
        used = settings.model_copy(update={"priority": [i for i in settings.priority if i in online_ids]})
    decision = decide(AllocateInput(settings=used, packs=states, request=request))
    for pd in decision.packs:
        dis, chg = limits[pd.id]
        plan.setpoints_w[pd.id] = clamp_setpoint(pd.power_w, plan.soc_pct[pd.id], reserve, dis, chg)
        plan.latched[pd.id] = pd.reserve_latched
        plan.reasons[pd.id] = pd.reason
    plan.request_w = float(request_w)
    plan.served_w = decision.served_w
    plan.unserved_w = decision.unserved_w
    return plan
