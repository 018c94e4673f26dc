"""The three runs on the same packs and the same battery demand, and the metrics of each.

- ``parallel``: the packs tied to one bus (:func:`socbal.topology.simulate_parallel`);
- ``series``: the packs in one string (:func:`socbal.topology.simulate_series`);
- ``dcdc``: the scenario's device, one DC-DC module per pack, socbal's EMS
  (:func:`socbal.sim.engine.simulate`).

Every run is reduced to the same per-step arrays (:class:`TopologyRun`) and one
function, :func:`run_metrics`, turns any of them into the metrics, so the three
columns of the comparison are computed the same way.

All three stop discharging at the scenario's backup reserve: the DC-DC EMS
keeps it, and series and parallel get it as their SOC floor (``floor_soc_pct``).

Losses are kept apart because the runs do not have the same kinds:
series and parallel have only I^2 R heat in the packs; the DC-DC run also has the
DC-DC conversion loss and the standby draw of the packs and of the main unit
(from its battery). Standby is shown in its own row and left out of the total
loss in every column: the packs' BMSs and the main unit draw it whatever the
connection, and series and parallel do not model it. The DC-DC simulator records the I^2 R heat and
the DC-DC conversion loss apart, and the EMS's reason for each pack, which names why a pack stopped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from socbal.compare.demand import battery_demand_w
from socbal.ems.kernel import REASON_AT_RESERVE, REASON_FULL, REASON_NO_LIMIT, REASON_TEXT
from socbal.errors import InputError
from socbal.scenario import CompareSpec, Scenario
from socbal.sim.engine import simulate
from socbal.sim.metrics import without_rounding
from socbal.topology import PackElectrical, TopologyResult, mean_cell_ocv_v, simulate_parallel, simulate_series
from socbal.topology.result import PACK_AT_FLOOR, PACK_STATE_TEXT

#: Topology keys, in table order, and their labels.
TOPOLOGIES = ("parallel", "series", "dcdc")
TOPOLOGY_LABELS = {"parallel": "Parallel bank", "series": "Series string", "dcdc": "DC-DC + socbal EMS"}

#: A step counts as a shortfall when served and requested power differ by more than this, W ...
SHORTFALL_MIN_W = 1.0
#: ... or by more than this share of the request, whichever is larger.
SHORTFALL_SHARE = 1e-3
#: A DC-DC pack whose bus power is below this, W, stands by (with a request of at least SHORTFALL_MIN_W).
STANDBY_W = 1e-6


@dataclass(frozen=True, eq=False)
class TopologyRun:
    """One topology's run as per-step arrays (n steps, p packs); power in W, + discharging.

    ``soc_pct`` (n+1, p) starts with the initial SOC; ``pack_current_a`` (n, p) is the
    current in each pack's cells; ``served_w`` (n) what the demand got from the bus (+) or gave it (-, the main
    unit's part of a PV surplus, ``main_surplus_w``, included).
    """

    topology: str
    soc_pct: np.ndarray
    pack_current_a: np.ndarray
    served_w: np.ndarray
    main_surplus_w: np.ndarray  # (n) part of a charge demand (PV surplus) the main unit took, not the packs
    pack_heat_w: np.ndarray  # (n, p) I^2 R in the cells
    circulating_a: np.ndarray  # (n) current from pack to pack instead of to or from the bus
    conversion_w: np.ndarray  # (n) DC-DC conversion loss, all packs
    standby_w: np.ndarray  # (n) standby draw from the packs (main unit's included)
    stored_wh: np.ndarray  # (n+1) energy the packs hold, Wh, as the topology's own model counts it (see stored_energy_wh)
    first_pack_stop_s: float  # first moment a pack stopped taking part; NaN: never
    first_pack_stop: str  # "<pack id>: <why>", "" when never
    power_set_per_step: bool  # True: power is set at each step's start and held through it (the DC-DC EMS)


def pack_fields(scenario: Scenario) -> list[str]:
    """Where each pack sits in the scenario file (``main``, ``packs[0]``, ...), for error messages."""
    return ["main"] + [f"packs[{i}]" for i in range(len(scenario.packs))]


def electrical_packs(scenario: Scenario) -> list[PackElectrical]:
    """The scenario's packs as directly connected packs: usable capacity (capacity x SOH), SOC, resistance.

    Chemistry, cells in series and the BMS trip current come from ``[compare]``;
    cells in series default to the pack's ``nominal_voltage_v`` over the mean cell OCV.
    """
    spec = scenario.compare or CompareSpec()
    packs = []
    for field, pack in zip(pack_fields(scenario), scenario.all_packs):
        if pack.internal_resistance_ohm <= 0:
            raise InputError(
                f"{field}.internal_resistance_ohm: value {pack.internal_resistance_ohm!r} is not allowed: "
                "socbal compare needs a resistance > 0 to tie packs directly together"
            )
        cells = spec.cells_in_series or max(1, round(pack.nominal_voltage_v / mean_cell_ocv_v(spec.chemistry)))
        packs.append(
            PackElectrical.from_capacity_wh(
                pack.usable_capacity_wh, pack.soc_pct, spec.chemistry, pack.internal_resistance_ohm, cells, spec.max_current_a
            )
        )
    return packs


def stored_energy_wh(packs: list[PackElectrical], soc_pct: np.ndarray) -> np.ndarray:
    """Energy the directly connected packs hold at each row of ``soc_pct`` (rows, p), Wh.

    Series and parallel move charge at the packs' OCV, so a pack's energy is the OCV
    integrated over its SOC (:meth:`PackElectrical.stored_energy_wh`), not usable
    capacity x SOC: LFP at 30 % holds about 6 % less than that; the two agree only at 0 and 100 %.
    """
    return np.sum([pack.stored_energy_wh(soc_pct[:, i]) for i, pack in enumerate(packs)], axis=0)


def _from_topology(result: TopologyResult, packs: list[PackElectrical], ids: list[str]) -> TopologyRun:
    """A series or parallel result as a :class:`TopologyRun` (no conversion, no standby)."""
    n = result.served_power_w.shape[0]
    resistance = np.array([p.internal_resistance_ohm for p in packs])
    # Heat per pack from the step-average current: exact within a step without a cut, close otherwise;
    # rescaled so the packs add up to the simulation's own (exact) total.
    heat = result.pack_current_a**2 * resistance
    scale = np.divide(result.loss_w, heat.sum(axis=1), out=np.zeros(n), where=heat.sum(axis=1) > 0)
    first = ""
    if result.first_stop_pack >= 0:
        # The floor is the backup reserve here: say so in the DC-DC column's words.
        why = result.first_stop_reason
        why = "at the backup reserve" if why == PACK_STATE_TEXT[PACK_AT_FLOOR] else why
        first = f"{ids[result.first_stop_pack]}: {why}"
    return TopologyRun(
        topology=result.topology,
        soc_pct=result.soc_pct,
        pack_current_a=result.pack_current_a,
        served_w=result.served_power_w,
        main_surplus_w=np.zeros(n),
        pack_heat_w=heat * scale[:, None],
        circulating_a=result.circulating_current_a,
        conversion_w=np.zeros(n),
        standby_w=np.zeros(n),
        stored_wh=stored_energy_wh(packs, result.soc_pct),
        first_pack_stop_s=result.time_to_first_stop_s,
        first_pack_stop=first,
        power_set_per_step=False,
    )


#: How the comparison names the EMS's reasons for a pack that stopped.
STOP_WORDS = {REASON_AT_RESERVE: "at the backup reserve", REASON_FULL: "full", REASON_NO_LIMIT: "cut off by its BMS"}


def dcdc_scenario(scenario: Scenario) -> Scenario:
    """The scenario as the DC-DC column runs it: every step recorded, no AC backup charging from the grid."""
    return scenario.model_copy(
        update={
            "run": scenario.run.model_copy(update={"record_every_s": None}),
            "device": scenario.device.model_copy(update={"ac_charge_limit_w": 0.0}),
        }
    )


def _dcdc_run(scenario: Scenario, demand_w: np.ndarray) -> TopologyRun:
    """Simulate the DC-DC device and reduce its per-step records to a :class:`TopologyRun`."""
    result = simulate(dcdc_scenario(scenario))
    specs = scenario.all_packs
    n, p = demand_w.shape[0], len(specs)
    to_w = 3600.0 / scenario.run.step_s

    def per_step(column: str) -> np.ndarray:
        return result.packs[column].to_numpy(dtype=float).reshape(n, p)

    bus_w = per_step("power_w")
    bus_sum_w = bus_w.sum(axis=1)
    # The main unit, fed on the bus: the packs fed it as far as they put power on the bus, the rest came from PV. In a
    # PV surplus that rest is part of the charge demand, taken by the main unit and not by the packs; while
    # discharging it is PV (packs at their reserve on an evening) that neither served the demand, nor charged, nor
    # left the cells. Only the packs' part is standby drawn from them: each Wh counts once.
    main_bus_w = result.device["main_from_bus_wh"].to_numpy(dtype=float) * to_w
    main_from_packs_w = np.clip(bus_sum_w, 0.0, main_bus_w)
    main_surplus_w = np.where(demand_w < 0.0, main_bus_w - main_from_packs_w, 0.0)
    dcdc_loss_w = per_step("dcdc_loss_wh") * to_w
    heat = per_step("i2r_loss_wh") * to_w
    soc = np.vstack([[s.soc_pct for s in specs], per_step("soc_true_pct")])
    # Cell side before I^2 R = bus + DC-DC loss, in either direction; I = P_cell / nominal voltage, as the simulator.
    current = (bus_w + dcdc_loss_w) / np.array([s.nominal_voltage_v for s in specs])
    first_s, first = math.nan, ""
    asked = np.abs(demand_w) >= SHORTFALL_MIN_W
    idle = (np.abs(bus_w) < STANDBY_W) & asked[:, None]
    if idle.any():
        k, i = np.argwhere(idle)[0]
        code = int(per_step("reason_code")[k, i])
        why = STOP_WORDS.get(code, REASON_TEXT[code])
        first_s, first = float(k * scenario.run.step_s), f"{specs[i].id}: {why}"
    # As the topologies define it: (sum |I_i| - |sum I_i|) / 2, the current of packs going against the rest.
    circulating = 0.5 * (np.abs(current).sum(axis=1) - np.abs(current.sum(axis=1)))
    return TopologyRun(
        topology="dcdc",
        soc_pct=soc,
        pack_current_a=current,
        served_w=bus_sum_w - main_from_packs_w - main_surplus_w,  # what the demand got from (+) or gave (-) the device
        main_surplus_w=main_surplus_w,
        pack_heat_w=heat,
        circulating_a=circulating,
        conversion_w=dcdc_loss_w.sum(axis=1),
        standby_w=(per_step("standby_wh") + per_step("main_unit_wh")).sum(axis=1) * to_w + main_from_packs_w,
        # The DC-DC pack model counts energy: SOC = stored energy / usable capacity.
        stored_wh=soc @ np.array([s.usable_capacity_wh for s in specs]) / 100.0,
        first_pack_stop_s=first_s,
        first_pack_stop=first,
        power_set_per_step=True,
    )


def run_topologies(scenario: Scenario) -> tuple[np.ndarray, dict[str, TopologyRun]]:
    """The battery demand (W per step) and the three runs on it, by topology key.

    Series and parallel stop discharging a pack at the backup reserve, as the DC-DC EMS does.
    """
    demand_w = battery_demand_w(scenario)
    step_s = scenario.run.step_s
    ids = [p.id for p in scenario.all_packs]
    packs = electrical_packs(scenario)
    floor = scenario.settings.backup_reserve_pct
    runs = {
        "parallel": _from_topology(simulate_parallel(packs, demand_w, step_s=step_s, floor_soc_pct=floor), packs, ids),
        "series": _from_topology(simulate_series(packs, demand_w, step_s=step_s, floor_soc_pct=floor), packs, ids),
        "dcdc": _dcdc_run(scenario, demand_w),
    }
    return demand_w, runs


def _spread_pct(soc_pct: np.ndarray) -> np.ndarray:
    """SOC spread (max - min over the packs) per row, % points."""
    return np.ptp(soc_pct, axis=1)


def first_stop_s(run: TopologyRun, short_step: int, step_s: float) -> float:
    """When the first shortfall began, s, given the first step short of the demand (``short_step``).

    The moment its cause happened where the run can say: a pack that stopped within that step (series and parallel
    time a stop within the step), or the step's start where power is set per step (the DC-DC EMS; a DC-DC pack stops
    at a step's start). Otherwise the end of the step, when its record shows the shortfall: the step's start would
    date it before its cause.
    """
    start_s, end_s = short_step * step_s, (short_step + 1) * step_s
    if start_s <= run.first_pack_stop_s < end_s:
        return run.first_pack_stop_s
    return start_s if run.power_set_per_step else end_s


def run_metrics(run: TopologyRun, demand_w: np.ndarray, step_s: float) -> dict:
    """The comparison metrics of one run (units in the names; NaN: the event never happened).

    ``balance_residual_wh`` is what the energy bookkeeping leaves open: stored at the start
    - stored at the end - (delivered - absorbed + heat + conversion + standby).
    """
    to_wh = step_s / 3600.0
    gap = demand_w - run.served_w
    short = np.abs(gap) > np.maximum(SHORTFALL_MIN_W, SHORTFALL_SHARE * np.abs(demand_w))
    first_short = np.flatnonzero(short)
    heat_w = run.pack_heat_w.sum(axis=1)
    circulating_a = run.circulating_a
    spread = _spread_pct(run.soc_pct)
    stored = run.stored_wh
    total_loss_wh = float((heat_w + run.conversion_w).sum() * to_wh)  # standby apart: see the module
    delivered_wh = float(np.clip(run.served_w, 0, None).sum() * to_wh)
    absorbed_wh = float(np.clip(-(run.served_w + run.main_surplus_w), 0, None).sum() * to_wh)  # into the packs only
    main_surplus_wh = float(run.main_surplus_w.sum() * to_wh)
    standby_wh = float(run.standby_w.sum() * to_wh)
    metrics: dict = {
        "topology": run.topology,
        "requested_discharge_wh": float(np.clip(demand_w, 0, None).sum() * to_wh),
        "requested_charge_wh": float(np.clip(-demand_w, 0, None).sum() * to_wh),
        "delivered_wh": delivered_wh,
        "absorbed_wh": absorbed_wh,
        "main_unit_surplus_wh": main_surplus_wh,
        "unserved_discharge_wh": float(np.clip(gap, 0, None)[demand_w > 0].sum() * to_wh),
        "unserved_charge_wh": float(np.clip(-gap, 0, None)[demand_w < 0].sum() * to_wh),
        "pack_heat_wh": float(heat_w.sum() * to_wh),
        "conversion_loss_wh": float(run.conversion_w.sum() * to_wh),
        "standby_wh": standby_wh,
        "total_loss_wh": total_loss_wh,
        "peak_pack_heat_w": float(np.max(heat_w, initial=0.0)),
        "peak_circulating_current_a": float(np.max(circulating_a, initial=0.0)),
        "circulating_charge_ah": float(circulating_a.sum() * step_s / 3600.0),
        "initial_spread_pct": float(spread[0]),
        "max_spread_pct": float(spread.max()),
        "mean_spread_pct": float(spread.mean()),
        "final_spread_pct": float(spread[-1]),
        "stored_start_wh": float(stored[0]),
        "stored_end_wh": float(stored[-1]),
        "balance_residual_wh": float(stored[0] - stored[-1] - (delivered_wh - absorbed_wh + total_loss_wh + standby_wh)),
        "time_to_first_stop_h": first_stop_s(run, int(first_short[0]), step_s) / 3600.0 if first_short.size else math.nan,
        "first_pack_stop_h": run.first_pack_stop_s / 3600.0,
        "first_pack_stop": run.first_pack_stop,
    }
    scale_wh = max(float(np.abs(demand_w).sum() * to_wh), delivered_wh, absorbed_wh)
    return without_rounding(metrics, ("unserved_discharge_wh", "unserved_charge_wh"), scale_wh)
