"""The compiled fleet loop: the single-device loop (:func:`socbal.sim.kernel.advance`) per device, over the cores.

Each device is recorded as one interval (its whole run), so memory grows with the
number of devices, not with the horizon.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from socbal.device.params import (
    EMS_HYSTERESIS_PCT,
    EMS_RESERVE_PCT,
    PARAM_BELIEVED_CAPACITY_WH,
    PARAM_CAPACITY_WH,
    DeviceModel,
)
from socbal.device.step import state_from_energy, step_scratch
from socbal.sim import kernel


@njit(cache=True, parallel=True)
def run_devices(
    model: DeviceModel,
    params: np.ndarray,
    energy0_wh: np.ndarray,
    energy_est0_wh: np.ndarray,
    profiles: kernel.Profiles,
    load_scale: np.ndarray,
    clock: kernel.Clock,
):
    """Simulate every device (first axis of ``params``, ``energy0_wh``, ``energy_est0_wh`` and ``load_scale``).

    ``model`` gives what the devices share (curves, priority, settings); its ``params`` is replaced by
    each device's row of ``params``. Returns
    whole-run totals ``(packs[device, pack, PACK column], device[device, DEVICE column],
    stats[device, STATS column])``, as :func:`socbal.sim.kernel.advance` records one interval.
    """
    n_devices, n_packs, _ = params.shape
    pack_out = np.zeros((n_devices, n_packs, kernel.N_PACK_COLUMNS))
    dev_out = np.zeros((n_devices, kernel.N_DEVICE_COLUMNS))
    stats_out = np.zeros((n_devices, kernel.N_STATS))
    for d in prange(n_devices):
        own = DeviceModel(
            np.ascontiguousarray(params[d]), model.curve_load, model.curve_eff, model.priority_rank, model.ems, model.device
        )
        state = state_from_energy(
            np.ascontiguousarray(params[d, :, PARAM_CAPACITY_WH]),
            np.ascontiguousarray(params[d, :, PARAM_BELIEVED_CAPACITY_WH]),
            np.ascontiguousarray(energy0_wh[d]),
            np.ascontiguousarray(energy_est0_wh[d]),
            model.ems[EMS_RESERVE_PCT],
            model.ems[EMS_HYSTERESIS_PCT],
        )
        scratch = step_scratch(n_packs)
        own_profiles = kernel.Profiles(
            profiles.load_w * load_scale[d],
            profiles.load_step_s,
            profiles.pv_w,
            profiles.pv_step_s,
            profiles.grid_on,
            profiles.grid_step_s,
        )
        records = kernel.Records(
            np.zeros((1, n_packs, kernel.N_PACK_COLUMNS)), np.zeros((1, kernel.N_DEVICE_COLUMNS)), kernel.initial_stats(state)
        )
        whole_run = kernel.Clock(clock.step_s, clock.n_steps, clock.n_steps)
        kernel.advance(own, own_profiles, whole_run, state, scratch, records, 0, clock.n_steps)
        kernel.finish(records.pack, clock.n_steps, clock.n_steps)
        pack_out[d] = records.pack[0]
        dev_out[d] = records.device[0]
        stats_out[d] = records.stats
    return pack_out, dev_out, stats_out
