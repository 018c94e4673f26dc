"""Per-period limits, written once: the simulator's step and the runtime's cycle give the same setpoints."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socbal.device.limits import charge_limit_w, discharge_limit_w
from socbal.device.physics import cell_side_w, curve_slopes, i2r_coefficient_per_w
from socbal.runtime.config import RuntimeConfig
from socbal.runtime.control import plan_cycle
from socbal.runtime.telemetry import DeviceReading, PackReading, Telemetry
from socbal.scenario import DEFAULT_DCDC_CURVE, scenario_from_dict
from socbal.sim.engine import simulate

CURVE_LOAD = np.array([p[0] for p in DEFAULT_DCDC_CURVE])
CURVE_EFF = np.array([p[1] for p in DEFAULT_DCDC_CURVE])
#: A 1200 W module on the default curve, 0.02 ohm at 51.2 V, as the compiled code takes it.
MODULE = (1.0 / 1200.0, CURVE_LOAD, CURVE_EFF, curve_slopes(CURVE_LOAD, CURVE_EFF), float(i2r_coefficient_per_w(0.02, 51.2)))


@settings(max_examples=200, deadline=None)
@given(soc=st.floats(0, 100), reserve=st.floats(5, 100), period_s=st.floats(1, 3600), capacity=st.floats(100, 20000))
def test_a_discharge_limit_never_takes_the_cells_below_the_reserve(soc, reserve, period_s, capacity):
    limit = discharge_limit_w(soc, reserve, capacity, period_s, 1200.0, *MODULE, -1.0, False)
    assert 0.0 <= limit <= 1200.0
    taken_wh = cell_side_w(limit, *MODULE)[0] * period_s / 3600
    above_wh = max(soc - reserve, 0.0) / 100 * capacity
    assert taken_wh <= above_wh * (1 + 1e-3) + 1e-6  # the loss model's fixed point (3 refinements), within 0.1 %


def test_a_cut_off_pack_reports_0_w_in_that_direction():
    assert discharge_limit_w(50, 10, 1920, 60, 1200, *MODULE, -1.0, True) == 0.0
    assert charge_limit_w(50, 1920, 60, 1200, 2.0, True) == 0.0
    assert charge_limit_w(50, 1920, 60, 1200, 2.0, False) == 1200.0


def _same_state(socs: dict[str, float], load_w: float, pv_w: float, step_s: float, reserve: float):
    """The simulator's first-step setpoints and the runtime's, for one state."""
    packs = [{"id": pid, "soc_pct": soc, "capacity_wh": 1000 + 500 * k} for k, (pid, soc) in enumerate(socs.items())]
    sim = simulate(
        scenario_from_dict(
            {
                "run": {"step_s": step_s, "horizon_h": step_s / 3600},
                "settings": {"backup_reserve_pct": reserve},
                "device": {"ac_output_limit_w": 2400, "ac_charge_limit_w": 0},
                "main": packs[0],
                "packs": packs[1:],
                "load": {"kind": "constant", "power_w": load_w},
                "pv": {"kind": "constant", "power_w": pv_w},
            }
        )
    )
    sim_w = dict(zip(sim.packs.pack_id.astype(str), sim.packs.power_w))
    cfg = RuntimeConfig.model_validate(
        {
            "runtime": {"period_s": step_s},
            "settings": {"backup_reserve_pct": reserve},
            "device": {"ac_output_limit_w": 2400, "ac_charge_limit_w": 0},
            "modbus": {"port": 1},
            "packs": [
                {"id": p["id"], "capacity_wh": p["capacity_wh"], "max_discharge_w": 1200, "max_charge_w": 1200, "standby_w": s}
                for p, s in zip(packs, [0.0] + [2.0] * (len(packs) - 1))
            ],
        }
    )
    now = 10.0
    tel = Telemetry(
        device=DeviceReading(pv_w=pv_w, load_w=load_w, grid_on=True, received_s=now),
        packs={pid: PackReading(soc, 0.0, 1200.0, 1200.0, True, now) for pid, soc in socs.items()},
    )
    plan = plan_cycle(cfg, cfg.settings, tel, now, {})
    return sim_w, plan.setpoints_w


@pytest.mark.parametrize(
    "socs,load_w,pv_w,step_s",
    [
        ({"main": 80, "p1": 40}, 900, 0, 60),  # the spec's example
        ({"main": 12, "p1": 35, "p2": 60}, 1500, 0, 60),  # near the reserve: the period limit binds
        ({"main": 70, "p1": 60, "p2": 40}, 100, 2000, 60),  # PV surplus charging
        ({"main": 50, "p1": 30}, 400, 0, 30),  # another period
    ],
)
def test_the_simulator_step_and_the_runtime_cycle_give_the_same_setpoints(socs, load_w, pv_w, step_s):
    sim_w, runtime_w = _same_state(socs, load_w, pv_w, step_s, reserve=10)
    assert runtime_w == pytest.approx(sim_w, rel=1e-9, abs=1e-9)
