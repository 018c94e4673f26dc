"""Checks a load profile, runs a series or parallel kernel over it and wraps the arrays in a result."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from numpy.typing import ArrayLike

from socbal.errors import InputError
from socbal.topology.ocv import SOC_GRID_PCT
from socbal.topology.pack_electrical import PackElectrical, pack_arrays
from socbal.topology.result import PACK_STATE_TEXT, TopologyResult

#: Sub-steps allowed per step per pack: each ends when a pack reaches empty or full.
SUBSTEPS_PER_PACK = 4


def load_profile(power_w: ArrayLike | None, current_a: ArrayLike | None, step_s: float) -> tuple[np.ndarray, bool]:
    """The one given profile as a float array, and whether it is power (True) or current (False)."""
    if (power_w is None) == (current_a is None):
        raise InputError("power_w, current_a: give exactly one load profile (W per step or A per step)")
    if not (isinstance(step_s, (int, float)) and np.isfinite(step_s) and step_s > 0):
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
        raise InputError(f"{name}[{bad[0]}]: value {profile[bad[0]]!r} is not allowed: must be finite")
    return profile, power_w is not None


def simulate(
    kernel: Callable,
    topology: str,
    packs: Sequence[PackElectrical],
    power_w: ArrayLike | None,
    current_a: ArrayLike | None,
    step_s: float,
) -> TopologyResult:
    """Run ``kernel`` (see ``parallel._kernel`` for its arguments) and return its :class:`TopologyResult`."""
    load, is_power = load_profile(power_w, current_a, step_s)
    arrays = pack_arrays(packs)
    n_steps, n_packs = load.shape[0], len(packs)
    soc = np.empty((n_steps + 1, n_packs))
    current = np.empty((n_steps, n_packs))
    voltage, terminal, served, circulating, loss = (np.empty(n_steps) for _ in range(5))
    state = np.empty((n_steps, n_packs), dtype=np.int8)
    first_s, first_pack, first_code = kernel(
        load, is_power, float(step_s),
        arrays.soc_pct, arrays.capacity_as, arrays.resistance_ohm, arrays.max_current_a,
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
