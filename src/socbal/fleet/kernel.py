"""The compiled fleet loop: the single-device loop (:func:`socbal.sim.kernel.run`) per device, over the cores.

Each device is recorded as one interval (its whole run), so memory grows with the
number of devices, not with the horizon.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from socbal.sim import kernel


@njit(cache=True, parallel=True)
def run_devices(
    params: np.ndarray,
    curve_load: np.ndarray,
    curve_eff: np.ndarray,
    priority_rank: np.ndarray,
    soc_true0_pct: np.ndarray,
    soc_est0_pct: np.ndarray,
    ems: np.ndarray,
    device: np.ndarray,
    load_w: np.ndarray,
    load_scale: np.ndarray,
    load_step_s: float,
    pv_w: np.ndarray,
    pv_step_s: float,
    grid_on: np.ndarray,
    grid_step_s: float,
    step_s: float,
    n_steps: int,
):
    """Simulate every device (first axis of ``params``, ``soc_*``, ``load_scale``) for ``n_steps`` steps.

    Returns whole-run totals ``(packs[device, pack, PACK column], device[device, DEVICE column],
    stats[device, STATS column])``, as :func:`socbal.sim.kernel.run` records them for one interval.
    """
    n_devices, n_packs, _ = params.shape
    pack_out = np.zeros((n_devices, n_packs, kernel.N_PACK_COLUMNS))
    dev_out = np.zeros((n_devices, kernel.N_DEVICE_COLUMNS))
    stats_out = np.zeros((n_devices, kernel.N_STATS))
    for d in prange(n_devices):
        pack_rec, dev_rec, stats = kernel.run(
            np.ascontiguousarray(params[d]),
            curve_load,
            curve_eff,
            priority_rank,
            np.ascontiguousarray(soc_true0_pct[d]),
            np.ascontiguousarray(soc_est0_pct[d]),
            ems,
            device,
            load_w * load_scale[d],
            load_step_s,
            pv_w,
            pv_step_s,
            grid_on,
            grid_step_s,
            step_s,
            n_steps,
            n_steps,
        )
        pack_out[d] = pack_rec[0]
        dev_out[d] = dev_rec[0]
        stats_out[d] = stats
    return pack_out, dev_out, stats_out
