"""OCV tables: shape, monotonicity, end points at the source's cut-off voltages, interpolation."""

from __future__ import annotations

import numpy as np
import pytest

from socbal.topology import CHEMISTRIES, SOC_GRID_PCT, cell_ocv_v, mean_cell_ocv_v
from socbal.topology.ocv import cell_ocv_table_v, energy_fraction

CUT_OFFS_V = {"nmc": (2.5, 4.2), "lfp": (2.0, 3.6)}  # the source parameter sets' voltage limits


@pytest.mark.parametrize("chemistry", CHEMISTRIES)
def test_table_rises_from_the_lower_to_the_upper_cut_off(chemistry):
    volts = cell_ocv_table_v(chemistry)
    assert volts.shape == SOC_GRID_PCT.shape
    assert np.all(np.diff(volts) > 0)
    assert (volts[0], volts[-1]) == CUT_OFFS_V[chemistry]


def test_lfp_is_flat_in_the_middle_and_nmc_is_not():
    lfp_rise = cell_ocv_v("lfp", 70) - cell_ocv_v("lfp", 40)
    nmc_rise = cell_ocv_v("nmc", 70) - cell_ocv_v("nmc", 40)
    assert lfp_rise < 0.03 < 0.2 < nmc_rise


def test_interpolation_is_vectorised_and_linear_between_grid_points():
    soc = np.array([[0.0, 50.0], [52.5, 100.0]])
    volts = cell_ocv_v("nmc", soc)
    assert volts.shape == soc.shape
    assert volts[0, 1] == cell_ocv_table_v("nmc")[list(SOC_GRID_PCT).index(50.0)]
    assert volts[1, 0] == pytest.approx(0.5 * (cell_ocv_v("nmc", 50) + cell_ocv_v("nmc", 55)))
    assert cell_ocv_v("lfp", -5) == cell_ocv_v("lfp", 0) and cell_ocv_v("lfp", 105) == cell_ocv_v("lfp", 100)


@pytest.mark.parametrize("chemistry", CHEMISTRIES)
def test_mean_ocv_is_the_integral_of_the_interpolated_curve(chemistry):
    fine_soc = np.linspace(0, 100, 200_001)
    assert mean_cell_ocv_v(chemistry) == pytest.approx(np.trapezoid(cell_ocv_v(chemistry, fine_soc), fine_soc) / 100, abs=1e-9)


def test_unknown_chemistry_names_the_choices():
    with pytest.raises(ValueError, match="'lco' is not known: choose one of lfp, nmc"):
        cell_ocv_v("lco", 50)


@pytest.mark.parametrize("chemistry", CHEMISTRIES)
def test_energy_fraction_is_the_ocv_integrated_from_empty_over_the_whole(chemistry):
    soc = np.array([0.0, 0.5, 3.0, 4.0, 30.0, 50.0, 97.5, 100.0, 120.0, -5.0])
    fine = np.linspace(0.0, 100.0, 200_001)
    volts = cell_ocv_v(chemistry, fine)
    whole = np.trapezoid(volts, fine)
    expected = [np.trapezoid(volts[fine <= s], fine[fine <= s]) / whole for s in np.clip(soc, 0, 100)]
    np.testing.assert_allclose(energy_fraction(chemistry, soc), expected, atol=1e-6)
    assert energy_fraction(chemistry, 0.0) == 0.0 and energy_fraction(chemistry, 100.0) == pytest.approx(1.0, abs=1e-15)
    # Low SOC sits below the mean voltage: less energy than capacity x SOC; the curve of energy rises with SOC.
    assert energy_fraction(chemistry, 30.0) < 0.30
    assert np.all(np.diff(energy_fraction(chemistry, np.linspace(0, 100, 1001))) > 0)
