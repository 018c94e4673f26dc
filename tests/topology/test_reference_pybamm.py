"""Independent check against PyBaMM (optional extra ``reference``; skipped when PyBaMM is missing).

1. The OCV tables are the full-cell curves of PyBaMM's ``Chen2020`` (NMC) and
   ``Prada2013`` (LFP) parameter sets, rebuilt here from the electrode
   potentials and the stoichiometry limits PyBaMM computes.
2. The circulating current between two packs at rest, solved by socbal (table
   OCV, fixed 1 s steps), matches a PyBaMM DAE of the same circuit (electrode
   OCV functions, adaptive IDAKLU solver): I = (OCV_1 - OCV_2) / (R_1 + R_2) with
   dSOC_1/dt = -I / Q_1, dSOC_2/dt = +I / Q_2. Tolerance: 2 % of the initial
   current at every minute of the hour (the tables' linear interpolation is the
   main difference; the Euler step adds less than 0.1 %).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")
pybamm = pytest.importorskip("pybamm")

from socbal.topology import SOC_GRID_PCT, simulate_parallel  # noqa: E402
from socbal.topology.ocv import cell_ocv_table_v  # noqa: E402

from .conftest import make_pack  # noqa: E402

pytestmark = pytest.mark.slow

PARAMETER_SETS = {"nmc": "Chen2020", "lfp": "Prada2013"}


def _cell_ocv(chemistry: str):
    """PyBaMM's full-cell OCV as a function of a (symbolic or numeric) SOC fraction, and its parameter values."""
    values = pybamm.ParameterValues(PARAMETER_SETS[chemistry])
    x_0, x_100, y_100, y_0 = pybamm.lithium_ion.get_min_max_stoichiometries(values)
    u_pos, u_neg = values["Positive electrode OCP [V]"], values["Negative electrode OCP [V]"]

    def ocv(soc):
        return u_pos(y_0 - soc * (y_0 - y_100)) - u_neg(x_0 + soc * (x_100 - x_0))

    return ocv, values


@pytest.mark.parametrize("chemistry", PARAMETER_SETS)
def test_tables_are_the_pybamm_full_cell_curves(chemistry):
    ocv, values = _cell_ocv(chemistry)
    pybamm_v = [float(values.process_symbol(ocv(pybamm.Scalar(s / 100))).evaluate()) for s in SOC_GRID_PCT]
    np.testing.assert_allclose(cell_ocv_table_v(chemistry), pybamm_v, atol=1e-4)  # tabulated to 0.1 mV


@pytest.mark.parametrize(("chemistry", "soc_pct"), [("nmc", (70.0, 30.0)), ("lfp", (90.0, 20.0))])
def test_circulating_current_at_rest_matches_a_pybamm_dae(chemistry, soc_pct):
    packs = [make_pack(soc_pct[0], chemistry=chemistry, capacity_ah=50.0, resistance_ohm=0.03),
             make_pack(soc_pct[1], chemistry=chemistry, capacity_ah=30.0, resistance_ohm=0.05)]  # fmt: skip
    result = simulate_parallel(packs, power_w=np.zeros(3600), step_s=1.0)

    ocv, values = _cell_ocv(chemistry)
    cells = packs[0].cells_in_series
    soc_1, soc_2, current = pybamm.Variable("soc_1"), pybamm.Variable("soc_2"), pybamm.Variable("current")
    model = pybamm.BaseModel()
    model.rhs = {soc_1: -current / (50.0 * 3600), soc_2: current / (30.0 * 3600)}
    model.algebraic = {current: cells * (ocv(soc_1) - ocv(soc_2)) - 0.08 * current}
    model.initial_conditions = {
        soc_1: pybamm.Scalar(soc_pct[0] / 100),
        soc_2: pybamm.Scalar(soc_pct[1] / 100),
        current: pybamm.Scalar(1.0),
    }
    model.variables = {"current": current}
    values.process_model(model)
    t_s = np.arange(0, 3601, 60.0)
    reference_a = pybamm.IDAKLUSolver(rtol=1e-8, atol=1e-10).solve(model, t_s)["current"](t_s)

    socbal_a = result.circulating_current_a[t_s[:-1].astype(int)]  # the step starting at t: its current at t
    tolerance_a = 0.02 * reference_a[0]
    np.testing.assert_allclose(socbal_a, reference_a[:-1], rtol=0, atol=tolerance_a)
    assert reference_a[-1] < 0.2 * reference_a[0]  # the reference decays too
