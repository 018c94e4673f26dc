"""Physics of one pack behind its DC-DC module over one step (compiled, array-free scalars).

Bus-side power ``bus_w`` is what the DC-DC module delivers to (+) or takes from (-)
the device's common bus; battery-side power ``battery_w`` is what leaves (+) or
enters (-) the cells. The difference is the conversion loss (DC-DC efficiency
curve plus I^2 R in the pack), always >= 0.

The functions never allocate: they are compiled with ``_nrt=False, inline="always"`` and
inlined into the simulator's loop (see :mod:`socbal.ems.kernel` for why).
"""

from __future__ import annotations

import numpy as np
from numba import njit

SECONDS_PER_HOUR = 3600.0


@njit(cache=True, _nrt=False, inline="always")
def dcdc_efficiency(load_fraction: float, curve_load: np.ndarray, curve_eff: np.ndarray) -> float:
    """DC-DC efficiency (0-1) at ``load_fraction`` of the module's rated power, interpolated on the curve.

    The same numbers as ``np.interp`` (held flat beyond the ends), without its per-call set-up.
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
    slope = (curve_eff[j + 1] - curve_eff[j]) / (curve_load[j + 1] - curve_load[j])
    return slope * (load_fraction - curve_load[j]) + curve_eff[j]


@njit(cache=True, _nrt=False, inline="always")
def battery_side_w(
    bus_w: float, rated_w: float, curve_load: np.ndarray, curve_eff: np.ndarray, resistance_ohm: float, voltage_v: float
) -> float:
    """Battery-side power (W) for a bus-side power ``bus_w`` (W), sign per the convention."""
    if bus_w == 0.0:
        return 0.0
    fraction = abs(bus_w) / rated_w if rated_w > 0.0 else 1.0
    eff = dcdc_efficiency(fraction, curve_load, curve_eff)
    cell_w = bus_w / eff if bus_w > 0.0 else bus_w * eff
    current_a = cell_w / voltage_v
    return cell_w + current_a * current_a * resistance_ohm


@njit(cache=True, _nrt=False, inline="always")
def bus_limit_for_energy_w(
    energy_wh: float,
    step_s: float,
    rated_w: float,
    curve_load: np.ndarray,
    curve_eff: np.ndarray,
    resistance_ohm: float,
    voltage_v: float,
    rated_cell_w: float = -1.0,
) -> float:
    """Largest bus-side discharge (W, <= ``rated_w``) that takes about ``energy_wh`` from the cells in one step.

    ``rated_cell_w``, when given (>= 0), is ``battery_side_w(rated_w, ...)`` computed once by
    the caller: a budget that covers it returns ``rated_w`` at once (the same result, faster).
    """
    budget_w = max(energy_wh, 0.0) * SECONDS_PER_HOUR / step_s
    if 0.0 <= rated_cell_w <= budget_w:
        return rated_w
    bus_w = min(rated_w, budget_w)
    for _ in range(3):  # fixed-point refinement: losses depend on the power itself
        needed_w = battery_side_w(bus_w, rated_w, curve_load, curve_eff, resistance_ohm, voltage_v)
        if needed_w <= budget_w or needed_w <= 0.0:
            break
        bus_w *= budget_w / needed_w
    return bus_w


@njit(cache=True, _nrt=False, inline="always")
def step_pack(
    energy_wh: float,
    capacity_wh: float,
    bus_w: float,
    standby_w: float,
    step_s: float,
    rated_w: float,
    curve_load: np.ndarray,
    curve_eff: np.ndarray,
    resistance_ohm: float,
    voltage_v: float,
    out: np.ndarray,
) -> None:
    """Advance one pack by one step; the cells never go below 0 Wh or above ``capacity_wh``.

    Writes ``out[:5] = [energy_wh_after, bus_w_actual, battery_w, loss_w, standby_w_actual]``.
    A pack that cannot deliver or absorb the requested ``bus_w`` (its BMS stops
    it at empty or full) delivers less; energy is conserved exactly:
    ``energy_after = energy - (bus_w_actual + loss_w + standby_w_actual) * step_s / 3600``.
    """
    to_rate = SECONDS_PER_HOUR / step_s
    energy_wh = min(max(energy_wh, 0.0), capacity_wh)  # rounding must never leave 0 outside [low_w, high_w]
    standby = min(standby_w, energy_wh * to_rate)
    high_w = energy_wh * to_rate - standby  # most the cells can give this step
    low_w = -(capacity_wh - energy_wh) * to_rate - standby  # most (negative) they can take
    battery_w = battery_side_w(bus_w, rated_w, curve_load, curve_eff, resistance_ohm, voltage_v)
    if battery_w > high_w or battery_w < low_w:
        bound = high_w if battery_w > high_w else low_w
        bus_w *= max(bound / battery_w, 0.0)
        battery_w = battery_side_w(bus_w, rated_w, curve_load, curve_eff, resistance_ohm, voltage_v)
        battery_w = min(max(battery_w, low_w), high_w)
    loss_w = battery_w - bus_w
    if loss_w < 0.0:  # only after clamping: attribute nothing to losses, deliver what the cells give
        bus_w = battery_w
        loss_w = 0.0
    out[0] = energy_wh - (battery_w + standby) / to_rate
    out[1] = bus_w
    out[2] = battery_w
    out[3] = loss_w
    out[4] = standby


@njit(cache=True, _nrt=False, inline="always")
def estimator_step(
    energy_est_wh: float, cell_w: float, capacity_wh: float, step_s: float, offset_w: float, gain_error: float, deadband_w: float
) -> float:
    """Coulomb-counting SOC estimator: the estimated energy (Wh) after one step.

    ``cell_w`` is the true power leaving the cells (W, standby included); the
    sensor reads it with a gain error and an offset, and reads 0 below its
    deadband, so small currents (standby) are where the estimate drifts most.
    """
    measured_w = cell_w * (1.0 + gain_error) + offset_w
    if abs(measured_w) < deadband_w:
        measured_w = 0.0
    return min(max(energy_est_wh - measured_w * step_s / SECONDS_PER_HOUR, 0.0), capacity_wh)


#: Until the cells are truly full, the BMS holds the estimate at or below this SOC, %.
ESTIMATE_HOLD_PCT = 99.0
#: True SOC at which the BMS detects full charge (end of the constant-voltage phase), %.
FULL_DETECT_PCT = 99.99


@njit(cache=True, _nrt=False, inline="always")
def recalibrate_at_full(energy_est_wh: float, energy_true_wh: float, capacity_wh: float) -> float:
    """The estimate (Wh) after the BMS's full-charge check.

    At full charge (detected from the cells, e.g. by voltage) the estimate is
    reset to the truth; before that an estimate that runs ahead of the cells is
    held below ``ESTIMATE_HOLD_PCT``, so it cannot stop charging short of full.
    """
    if energy_true_wh >= FULL_DETECT_PCT / 100.0 * capacity_wh:
        return energy_true_wh
    if energy_est_wh <= energy_true_wh:  # only an estimate running ahead of the cells is held back
        return energy_est_wh
    return min(energy_est_wh, max(energy_true_wh, ESTIMATE_HOLD_PCT / 100.0 * capacity_wh))


@njit(cache=True, _nrt=False, inline="always")
def step_pack_and_estimate(
    energy_wh: float,
    energy_est_wh: float,
    capacity_wh: float,
    bus_w: float,
    standby_w: float,
    step_s: float,
    rated_w: float,
    curve_load: np.ndarray,
    curve_eff: np.ndarray,
    resistance_ohm: float,
    voltage_v: float,
    offset_w: float,
    gain_error: float,
    deadband_w: float,
    out: np.ndarray,
) -> None:
    """One pack for one step as the simulator and the emulator both run it: :func:`step_pack`, then the BMS
    estimator (:func:`estimator_step`) and its full-charge check (:func:`recalibrate_at_full`).

    Writes ``out = [energy_wh_after, bus_w_actual, battery_w, loss_w, standby_w_actual, energy_est_wh_after]``.
    """
    step_pack(energy_wh, capacity_wh, bus_w, standby_w, step_s, rated_w, curve_load, curve_eff, resistance_ohm, voltage_v, out)
    estimate = estimator_step(energy_est_wh, out[2] + out[4], capacity_wh, step_s, offset_w, gain_error, deadband_w)
    out[5] = recalibrate_at_full(estimate, out[0], capacity_wh)
