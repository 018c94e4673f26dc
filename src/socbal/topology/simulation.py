"""Steps a series string or a parallel bank through a load profile: the public entry points.

Each step is cut into sub-steps: currents are held constant (explicit Euler)
until the step ends, the first pack reaches its floor (``floor_soc_pct``, 0 %
unless given) or 100 %, which it then hits exactly, or a pack's OCV would move
by more than :data:`OCV_STEP_SHARE` of itself; the circuit is solved again
for the rest of the step. The last bound keeps the held currents true where the
OCV curve is steep (near empty and full): two parallel LFP packs at 0 and 100 %
exchange about 100 A that falls within seconds, which one 60 s Euler step would
overshoot, and it bounds the energy error of holding the OCV over a sub-step. A string and a
bank differ only in the circuit at one moment, ``series.solve_string`` and
``parallel.solve_bus``, which both read

    solve(load, is_power, ocv_v, r_ohm, max_a, soc_pct, floor_pct, tripped, state, current_a)
        -> (terminal voltage V or NaN when open, terminal current A, circulating current A)

and fill ``current_a`` (A per pack, + discharging) and ``state`` (``PACK_*``
codes), setting ``tripped`` for packs whose BMS trips (latched). A pack at or
below ``floor_pct`` may not discharge, as an empty pack may not.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Real

import numpy as np
from numba import njit
from numpy.typing import ArrayLike

from socbal.errors import InputError
from socbal.topology.ocv import SOC_GRID_PCT
from socbal.topology.pack_electrical import PackElectrical, pack_arrays
from socbal.topology.parallel import solve_bus
from socbal.topology.result import PACK_ON_BUS, PACK_STATE_TEXT, TopologyResult
from socbal.topology.series import solve_string

_PARALLEL, _SERIES = 0, 1
_TOPOLOGY_CODES = {"parallel": _PARALLEL, "series": _SERIES}

#: Sub-steps allowed per step per pack: each ends when a pack reaches its floor or full.
SUBSTEPS_PER_PACK = 4
#: Largest change of a pack's OCV within one sub-step, as a share of that OCV.
OCV_STEP_SHARE = 0.002
#: Sub-steps per step that may be cut by the OCV bound; past them the step ends with longer sub-steps.
OCV_SUBSTEPS = 2000


@njit(cache=True)
def _ocv_slope_v_per_pct(soc_pct: float, grid_pct: np.ndarray, table_v: np.ndarray) -> float:
    """The steeper of the two OCV table segments around ``soc_pct``, V per % SOC (>= 0)."""
    k = min(max(np.searchsorted(grid_pct, soc_pct) - 1, 0), grid_pct.shape[0] - 2)
    slope = (table_v[k + 1] - table_v[k]) / (grid_pct[k + 1] - grid_pct[k])
    if k + 2 < grid_pct.shape[0]:
        slope = max(slope, (table_v[k + 2] - table_v[k + 1]) / (grid_pct[k + 2] - grid_pct[k + 1]))
    return slope


@njit(cache=True)
def _time_to_bound_s(soc_pct: float, floor_pct: float, capacity_as: float, current_a: float) -> float:
    """Seconds until a pack at ``soc_pct`` reaches ``floor_pct`` (discharging) or 100 % (charging); inf at 0 A."""
    if current_a > 0.0:
        return max(soc_pct - floor_pct, 0.0) / 100.0 * capacity_as / current_a
    if current_a < 0.0:
        return (100.0 - soc_pct) / 100.0 * capacity_as / -current_a
    return np.inf


@njit(cache=True)
def run_steps(
    topology, load, is_power, step_s, soc0_pct, floor_pct, capacity_as, r_ohm, max_a, grid_pct, ocv_table_v,
    max_substeps,
    soc_out, current_out, voltage_out, terminal_out, served_out, circulating_out, loss_out, state_out,
):  # fmt: skip
    """Step the circuit (``_PARALLEL`` or ``_SERIES``) through ``load`` (W or A per step); writes step averages.

    Returns (time of the first stop in s or NaN, its pack or -1, its PACK_* code);
    a stop is any pack leaving ``PACK_ON_BUS``. A step that needs more than
    ``max_substeps`` sub-steps besides its :data:`OCV_SUBSTEPS` OCV-bounded ones leaves
    its rest unsimulated (it shows as unserved).
    """
    n_steps = load.shape[0]
    n = soc0_pct.shape[0]
    soc = soc0_pct.copy()
    soc_out[0] = soc
    tripped = np.zeros(n, dtype=np.bool_)
    state = np.zeros(n, dtype=np.int8)
    ocv_v = np.empty(n)
    current_a = np.empty(n)
    charge_as = np.empty(n)
    first_s, first_pack, first_code = np.nan, -1, 0
    for k in range(n_steps):
        t_left = step_s
        charge_as[:] = 0.0
        served_j = loss_j = circulating_as = voltage_vs = terminal_as = t_on = 0.0
        ocv_cuts = 0
        for _ in range(max_substeps + OCV_SUBSTEPS):
            for i in range(n):
                ocv_v[i] = np.interp(soc[i], grid_pct, ocv_table_v[i])
            if topology == _PARALLEL:
                bus_v, load_a, circulating_a = solve_bus(
                    load[k], is_power, ocv_v, r_ohm, max_a, soc, floor_pct, tripped, state, current_a
                )
            else:
                bus_v, load_a, circulating_a = solve_string(
                    load[k], is_power, ocv_v, r_ohm, max_a, soc, floor_pct, tripped, state, current_a
                )
            if first_pack < 0:
                for i in range(n):
                    if state[i] != PACK_ON_BUS:
                        first_s, first_pack, first_code = k * step_s + step_s - t_left, i, state[i]
                        break
            dt = t_left
            hit = -1
            ocv_cut = False
            if ocv_cuts < OCV_SUBSTEPS:
                for i in range(n):
                    pct_per_s = abs(current_a[i]) / capacity_as[i] * 100.0
                    if pct_per_s > 0.0:
                        slope = _ocv_slope_v_per_pct(soc[i], grid_pct, ocv_table_v[i])
                        t_ocv = OCV_STEP_SHARE * ocv_v[i] / (slope * pct_per_s) if slope > 0.0 else np.inf
                        if t_ocv < dt:
                            dt, ocv_cut = t_ocv, True
            for i in range(n):
                t_hit = _time_to_bound_s(soc[i], floor_pct, capacity_as[i], current_a[i])
                if t_hit < dt:
                    dt, hit, ocv_cut = t_hit, i, False
            ocv_cuts += ocv_cut
            for i in range(n):
                # Never below the floor by rounding (a pack below it from the start can only charge).
                low = min(soc[i], floor_pct)
                soc[i] = min(max(soc[i] - current_a[i] * dt / capacity_as[i] * 100.0, low), 100.0)
                charge_as[i] += current_a[i] * dt
                loss_j += current_a[i] * current_a[i] * r_ohm[i] * dt
            if hit >= 0:
                soc[hit] = floor_pct if current_a[hit] > 0.0 else 100.0
            circulating_as += circulating_a * dt
            if not np.isnan(bus_v):
                served_j += bus_v * load_a * dt
                terminal_as += load_a * dt
                voltage_vs += bus_v * dt
                t_on += dt
            t_left -= dt
            if t_left <= 1e-9 * step_s:
                break
        soc_out[k + 1] = soc
        current_out[k] = charge_as / step_s
        voltage_out[k] = voltage_vs / t_on if t_on > 0.0 else np.nan
        terminal_out[k] = terminal_as / step_s
        served_out[k] = served_j / step_s
        circulating_out[k] = circulating_as / step_s
        loss_out[k] = loss_j / step_s
        state_out[k] = state
    return first_s, first_pack, first_code


def _load_profile(power_w: ArrayLike | None, current_a: ArrayLike | None, step_s: float) -> tuple[np.ndarray, bool]:
    """The one given profile as a float array, and whether it is power (True) or current (False)."""
    if (power_w is None) == (current_a is None):
        raise InputError("power_w, current_a: give exactly one load profile (W per step or A per step)")
    if isinstance(step_s, bool) or not (isinstance(step_s, Real) and np.isfinite(step_s) and step_s > 0):
        raise InputError(f"step_s: value {step_s!r} is not allowed: must be a finite number of seconds > 0")
    name, values = ("power_w", power_w) if power_w is not None else ("current_a", current_a)
    try:
        profile = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{name}: not a sequence of numbers") from None
    if profile.ndim != 1:
        raise InputError(f"{name}: must be one-dimensional (one value per step), got shape {profile.shape}")
    bad = np.flatnonzero(~np.isfinite(profile))
    if bad.size:
        raise InputError(f"{name}[{bad[0]}]: value {float(profile[bad[0]])!r} is not allowed: must be finite")
    return profile, power_w is not None


def _simulate(
    topology: str,
    packs: Sequence[PackElectrical],
    power_w: ArrayLike | None,
    current_a: ArrayLike | None,
    step_s: float,
    floor_soc_pct: float,
) -> TopologyResult:
    """Check the inputs, run :func:`run_steps` and wrap its arrays in a :class:`TopologyResult`."""
    load, is_power = _load_profile(power_w, current_a, step_s)
    if isinstance(floor_soc_pct, bool) or not (isinstance(floor_soc_pct, Real) and 0 <= floor_soc_pct <= 100):
        raise InputError(f"floor_soc_pct: value {floor_soc_pct!r} is not allowed: must be a number from 0 to 100")
    arrays = pack_arrays(packs)
    n_steps, n_packs = load.shape[0], len(packs)
    soc = np.empty((n_steps + 1, n_packs))
    current = np.empty((n_steps, n_packs))
    voltage, terminal, served, circulating, loss = (np.empty(n_steps) for _ in range(5))
    state = np.empty((n_steps, n_packs), dtype=np.int8)
    first_s, first_pack, first_code = run_steps(
        _TOPOLOGY_CODES[topology], load, is_power, float(step_s),
        arrays.soc_pct, float(floor_soc_pct), arrays.capacity_as, arrays.resistance_ohm, arrays.max_current_a,
        SOC_GRID_PCT, arrays.ocv_table_v, SUBSTEPS_PER_PACK * n_packs + 2,
        soc, current, voltage, terminal, served, circulating, loss, state,
    )  # fmt: skip
    nan = np.full(n_steps, np.nan)
    return TopologyResult(
        topology=topology,
        step_s=float(step_s),
        time_s=np.arange(n_steps + 1) * float(step_s),
        soc_pct=soc,
        pack_current_a=current,
        bus_voltage_v=voltage,
        requested_power_w=load if is_power else nan,
        requested_current_a=nan if is_power else load,
        served_current_a=terminal,
        served_power_w=served,
        circulating_current_a=circulating,
        loss_w=loss,
        pack_state=state,
        time_to_first_stop_s=float(first_s),
        first_stop_pack=int(first_pack),
        first_stop_reason=PACK_STATE_TEXT[int(first_code)] if first_pack >= 0 else "",
    )


def simulate_parallel(
    packs: Sequence[PackElectrical],
    power_w: ArrayLike | None = None,
    *,
    step_s: float,
    current_a: ArrayLike | None = None,
    floor_soc_pct: float = 0.0,
) -> TopologyResult:
    """Run packs tied to one bus (see :mod:`socbal.topology.parallel`) through a load profile.

    Give exactly one profile, one value per step of ``step_s`` seconds:
    ``power_w`` (W at the bus terminals) or ``current_a`` (A); positive
    discharges the bank, negative charges it, 0 is rest (circulating current
    still flows between packs at unequal OCV). The packs are not changed.

    ``floor_soc_pct`` (0 % unless given) is the SOC below which no pack
    discharges: a pack that reaches it leaves the bus for discharge, as an
    empty pack does, and rejoins when the bus would charge it.
    """
    return _simulate("parallel", packs, power_w, current_a, step_s, floor_soc_pct)


def simulate_series(
    packs: Sequence[PackElectrical],
    power_w: ArrayLike | None = None,
    *,
    step_s: float,
    current_a: ArrayLike | None = None,
    floor_soc_pct: float = 0.0,
) -> TopologyResult:
    """Run packs in one series string (see :mod:`socbal.topology.series`) through a load profile.

    Same profile rules as :func:`simulate_parallel`: exactly one of ``power_w``
    (W at the string terminals) or ``current_a`` (A), positive = discharging.
    ``floor_soc_pct`` (0 % unless given): the string stops discharging when
    any pack reaches it, as it does when any pack is empty.
    """
    return _simulate("series", packs, power_w, current_a, step_s, floor_soc_pct)
