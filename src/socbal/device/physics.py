"""Physics of one pack behind its DC-DC module over one step (compiled, array-free scalars).

Bus-side power ``bus_w`` is what the DC-DC module delivers to (+) or takes from (-)
the device's common bus; battery-side power ``battery_w`` is what leaves (+) or
enters (-) the cells. The difference is the conversion loss (DC-DC efficiency
curve plus I^2 R in the pack), always >= 0.

The functions never allocate: they are compiled without reference counting and inlined by LLVM
into the simulator's loop (see :mod:`socbal.jit`).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from socbal.jit import compiled_only_kernel, fast_arithmetic, fmax, fmin, inline_kernel, ir_inline_kernel

SECONDS_PER_HOUR = 3600.0


def curve_slopes(curve_load: np.ndarray, curve_eff: np.ndarray) -> np.ndarray:
    """Slopes of the DC-DC curves' segments, efficiency per unit of load share (``[..., point]``, the last 0),
    computed once at set-up so the loop multiplies instead of dividing; the load shares ascend strictly (two a
    few ulps apart give an infinite slope, as the division per call did)."""
    slope = np.zeros_like(curve_eff, dtype=np.float64)
    with np.errstate(over="ignore"):
        slope[..., :-1] = np.diff(curve_eff, axis=-1) / np.diff(curve_load, axis=-1)
    return slope


def inverse_rating_per_w(rated_w: ArrayLike) -> np.ndarray:
    """``1 / rated_w`` (1/W) where the rating is > 0, else 0 (no rating: the loop takes load share 1); a rating too
    small to invert (below 1/DBL_MAX) gives infinity, a load share past the curve's end, as dividing by it did."""
    rated = np.asarray(rated_w, dtype=np.float64)
    with np.errstate(over="ignore"):
        return np.divide(1.0, rated, out=np.zeros_like(rated), where=rated > 0.0)


def i2r_coefficient_per_w(resistance_ohm: ArrayLike, voltage_v: ArrayLike) -> np.ndarray:
    """``R / V^2`` (1/W): the I^2 R loss (W) per squared cell-side power (W^2), at the nominal voltage."""
    return np.asarray(resistance_ohm, dtype=np.float64) / (np.asarray(voltage_v, dtype=np.float64) ** 2)


@inline_kernel
def dcdc_efficiency(load_fraction: float, curve_load: np.ndarray, curve_eff: np.ndarray, curve_slope: np.ndarray) -> float:
    """DC-DC efficiency (0-1) at ``load_fraction`` of the module's rated power, interpolated on the curve.

    ``curve_slope`` is :func:`curve_slopes` of the curve (no division per call). The same numbers as ``np.interp``
    (held flat beyond the ends), without its per-call set-up.
    """
    last = curve_load.shape[0] - 1
    if last == 0 or load_fraction <= curve_load[0]:
        return curve_eff[0]
    if load_fraction >= curve_load[last]:
        return curve_eff[last]
    j = 0
    while curve_load[j + 1] <= load_fraction:
        j += 1
    if curve_load[j] == load_fraction:
        return curve_eff[j]
    return curve_slope[j] * (load_fraction - curve_load[j]) + curve_eff[j]


@ir_inline_kernel  # one call site (cell_side_w): no compiled function of its own
def cell_power_w(bus_w: float, efficiency: float, i2r_per_w2: float) -> tuple[float, float]:
    """``(battery_w, i2r_w)`` for a bus-side power ``bus_w`` (W) through a DC-DC of ``efficiency`` (0-1): battery-side
    power, sign per the convention, and the I^2 R part of the loss (W, >= 0), ``i2r_per_w2`` being ``R / V^2`` (1/W)."""
    cell_w = bus_w / efficiency if bus_w > 0.0 else bus_w * efficiency
    i2r_w = cell_w * cell_w * i2r_per_w2  # (cell_w / V)^2 R, with R / V^2 computed once
    return cell_w + i2r_w, i2r_w


@inline_kernel
def cell_side_w(
    bus_w: float,
    inv_rated_per_w: float,
    curve_load: np.ndarray,
    curve_eff: np.ndarray,
    curve_slope: np.ndarray,
    i2r_per_w2: float,
) -> tuple[float, float]:
    """``(battery_w, i2r_w)`` for a bus-side power ``bus_w`` (W): battery-side power, sign per the convention,
    and the I^2 R part of the loss (W, >= 0); the rest of the loss ``battery_w - bus_w`` is the DC-DC's.

    ``inv_rated_per_w`` is :func:`inverse_rating_per_w` of the module's rating (1/W; 0: no rating, load share 1), the curve's
    slopes :func:`curve_slopes` and ``i2r_per_w2`` :func:`i2r_coefficient_per_w`, all computed once at set-up.
    """
    if bus_w == 0.0:
        return 0.0, 0.0
    fraction = abs(bus_w) * inv_rated_per_w if inv_rated_per_w > 0.0 else 1.0
    return cell_power_w(bus_w, dcdc_efficiency(fraction, curve_load, curve_eff, curve_slope), i2r_per_w2)


@ir_inline_kernel  # one call site (discharge_limit_w): no compiled function of its own
def bus_limit_for_energy_w(
    energy_wh: float,
    step_s: float,
    rated_w: float,
    inv_rated_per_w: float,
    curve_load: np.ndarray,
    curve_eff: np.ndarray,
    curve_slope: np.ndarray,
    i2r_per_w2: float,
    rated_cell_w: float,
) -> float:
    """Largest bus-side discharge (W, <= ``rated_w``) that takes about ``energy_wh`` from the cells in one step.

    ``rated_cell_w``, when given (>= 0; -1: not given), is ``cell_side_w(rated_w, ...)[0]`` computed once by the caller:
    a budget that covers it returns ``rated_w`` at once (the same result, faster).
    """
    budget_w = fmax(energy_wh, 0.0) * (SECONDS_PER_HOUR / step_s)
    if 0.0 <= rated_cell_w <= budget_w:
        return rated_w
    bus_w = fmin(rated_w, budget_w)
    for _ in range(3):  # fixed-point refinement: losses depend on the power itself
        needed_w = cell_side_w(bus_w, inv_rated_per_w, curve_load, curve_eff, curve_slope, i2r_per_w2)[0]
        if needed_w <= budget_w or needed_w <= 0.0:
            break
        bus_w *= budget_w / needed_w
    return bus_w


@inline_kernel
@fast_arithmetic
def step_pack(
    energy_wh: float,
    capacity_wh: float,
    bus_w: float,
    standby_w: float,
    step_s: float,
    inv_rated_per_w: float,
    curve_load: np.ndarray,
    curve_eff: np.ndarray,
    curve_slope: np.ndarray,
    i2r_per_w2: float,
) -> tuple[float, float, float, float, float, float]:
    """Advance one pack by one step; the cells never go below 0 Wh or above ``capacity_wh``.

    Returns ``(energy_wh_after, bus_w_actual, battery_w, loss_w, i2r_w, standby_w_actual)`` (Wh, W):
    ``loss_w`` is the whole conversion loss, ``i2r_w`` its I^2 R part (the rest is the DC-DC module's).
    A pack that cannot deliver or absorb the requested ``bus_w`` (its BMS stops
    it at empty or full) delivers less; energy is conserved exactly:
    ``energy_after = energy - (bus_w_actual + loss_w + standby_w_actual) * step_s / 3600``.
    """
    to_rate = SECONDS_PER_HOUR / step_s
    energy_wh = fmin(fmax(energy_wh, 0.0), capacity_wh)  # rounding must never leave 0 outside [low_w, high_w]
    standby = fmin(standby_w, energy_wh * to_rate)
    high_w = energy_wh * to_rate - standby  # most the cells can give this step
    low_w = -(capacity_wh - energy_wh) * to_rate - standby  # most (negative) they can take
    battery_w, i2r_w = cell_side_w(bus_w, inv_rated_per_w, curve_load, curve_eff, curve_slope, i2r_per_w2)
    if battery_w > high_w or battery_w < low_w:
        bound = high_w if battery_w > high_w else low_w
        bus_w *= fmax(bound / battery_w, 0.0)
        battery_w, i2r_w = cell_side_w(bus_w, inv_rated_per_w, curve_load, curve_eff, curve_slope, i2r_per_w2)
        battery_w = fmin(fmax(battery_w, low_w), high_w)
    loss_w = battery_w - bus_w
    if loss_w < 0.0:  # only after clamping: attribute nothing to losses, deliver what the cells give
        bus_w = battery_w
        loss_w = 0.0
    return energy_wh - (battery_w + standby) * (step_s / SECONDS_PER_HOUR), bus_w, battery_w, loss_w, fmin(i2r_w, loss_w), standby


@ir_inline_kernel  # one call site (bms_step): no compiled function of its own
def estimator_step(
    energy_est_wh: float,
    cell_w: float,
    capacity_wh: float,
    step_s: float,
    offset_w: float,
    gain_error: float,
    deadband_w: float,
) -> float:
    """Coulomb-counting SOC estimator: the estimated energy (Wh, of the believed ``capacity_wh``) after one step.

    ``cell_w`` is the true power leaving the cells (W, standby included); the
    sensor reads it with a gain error and an offset, and reads 0 below its
    deadband, so small currents (standby) are where the estimate drifts most.
    """
    measured_w = cell_w * (1.0 + gain_error) + offset_w
    if abs(measured_w) < deadband_w:
        measured_w = 0.0
    return fmin(fmax(energy_est_wh - measured_w * (step_s / SECONDS_PER_HOUR), 0.0), capacity_wh)


#: Until the cells are truly full, the BMS holds the estimate at or below this SOC, %.
ESTIMATE_HOLD_PCT = 99.0
#: True SOC at which the BMS detects full charge (end of the constant-voltage phase), %.
FULL_DETECT_PCT = 99.99
#: True SOC at or below which the BMS cuts the pack off as empty (cell voltage at its minimum), %.
EMPTY_CUTOFF_PCT = 0.01


@ir_inline_kernel  # one call site (bms_step): no compiled function of its own
def recalibrate(
    energy_est_wh: float, energy_true_wh: float, capacity_wh: float, believed_capacity_wh: float, believed_per_true: float
) -> float:
    """The estimate (Wh of ``believed_capacity_wh``) after the BMS's full and empty checks on the cells.

    At full charge or at the empty cut-off (both detected from the cells, e.g. by voltage) the
    estimate is reset to the true SOC; before full, an estimate that runs ahead of the cells is
    held below ``ESTIMATE_HOLD_PCT``, so it cannot stop charging short of full. ``believed_per_true`` is
    ``believed_capacity_wh / capacity_wh`` (computed once).
    """
    true_as_believed_wh = energy_true_wh * believed_per_true  # the true SOC, in believed Wh
    if energy_true_wh >= FULL_DETECT_PCT / 100.0 * capacity_wh or energy_true_wh <= EMPTY_CUTOFF_PCT / 100.0 * capacity_wh:
        return true_as_believed_wh
    if energy_est_wh <= true_as_believed_wh:  # only an estimate running ahead of the cells is held back
        return energy_est_wh
    return fmin(energy_est_wh, fmax(true_as_believed_wh, ESTIMATE_HOLD_PCT / 100.0 * believed_capacity_wh))


@ir_inline_kernel  # one call site (bms_step): no compiled function of its own
def cut_off(energy_true_wh: float, capacity_wh: float) -> tuple[bool, bool]:
    """The BMS's cut-off flags ``(empty, full)`` from the cells: no discharge when empty, no charge when full."""
    return (energy_true_wh <= EMPTY_CUTOFF_PCT / 100.0 * capacity_wh, energy_true_wh >= FULL_DETECT_PCT / 100.0 * capacity_wh)


@compiled_only_kernel
@fast_arithmetic
def bms_step(
    energy_est_wh: float,
    cell_w: float,
    energy_true_wh: float,
    capacity_wh: float,
    believed_capacity_wh: float,
    step_s: float,
    offset_w: float,
    gain_error: float,
    deadband_w: float,
    believed_per_true: float,
) -> tuple[float, bool, bool]:
    """A pack's BMS after one step: ``(energy_est_wh, empty, full)``, its estimate (Wh of ``believed_capacity_wh``)
    counted from ``cell_w`` (W, :func:`estimator_step`) and checked on the cells (:func:`recalibrate`), and its
    cut-off flags (:func:`cut_off`) from the cells' energy ``energy_true_wh`` (Wh) after the step."""
    estimate = estimator_step(energy_est_wh, cell_w, believed_capacity_wh, step_s, offset_w, gain_error, deadband_w)
    empty, full = cut_off(energy_true_wh, capacity_wh)
    return recalibrate(estimate, energy_true_wh, capacity_wh, believed_capacity_wh, believed_per_true), empty, full
