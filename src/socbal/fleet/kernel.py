"""The fleet loop: the single-device loop (:func:`socbal.sim.kernel.advance`) per device, over the cores.

Each device is recorded as one interval (its whole run), so memory grows with the number of
devices, not with the horizon. The compiled loop releases the GIL, so a pool of threads runs one
device per core; the fleet compiles nothing beyond the one-device loop ``socbal simulate`` uses.
"""

from __future__ import annotations

import numpy as np

from socbal.device.params import (
    EMS_HYSTERESIS_PCT,
    EMS_RESERVE_PCT,
    PARAM_BELIEVED_CAPACITY_WH,
    PARAM_CAPACITY_WH,
    DeviceModel,
)
from socbal.device.step import state_from_energy, step_scratch
from socbal.fleet.pool import thread_map
from socbal.sim import kernel


def run_device(
    model: DeviceModel,
    params: np.ndarray,
    energy0_wh: np.ndarray,
    energy_est0_wh: np.ndarray,
    profiles: kernel.Profiles,
    load_scale: float,
    clock: kernel.Clock,
) -> kernel.Records:
    """One device of the fleet over the whole run (``params[pack, PARAM_*]``, energies in Wh, its load scale):
    its records as one interval."""
    own = model._replace(params=np.ascontiguousarray(params))
    state = state_from_energy(
        np.ascontiguousarray(params[:, PARAM_CAPACITY_WH]),
        np.ascontiguousarray(params[:, PARAM_BELIEVED_CAPACITY_WH]),
        np.ascontiguousarray(energy0_wh),
        np.ascontiguousarray(energy_est0_wh),
        model.ems[EMS_RESERVE_PCT],
        model.ems[EMS_HYSTERESIS_PCT],
    )
    whole_run = kernel.Clock(clock.step_s, clock.n_steps, clock.n_steps)
    records = kernel.empty_records(state, whole_run)
    own_profiles = profiles._replace(load_w=profiles.load_w * load_scale)
    kernel.advance(own, own_profiles, whole_run, state, step_scratch(params.shape[0]), records, 0, clock.n_steps)
    kernel.finish(records.pack, clock.n_steps, clock.n_steps)
    return records


def run_devices(
    model: DeviceModel,
    params: np.ndarray,
    energy0_wh: np.ndarray,
    energy_est0_wh: np.ndarray,
    profiles: kernel.Profiles,
    load_scale: np.ndarray,
    clock: kernel.Clock,
    threads: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Simulate every device (first axis of ``params``, ``energy0_wh``, ``energy_est0_wh`` and ``load_scale``)
    on ``threads`` threads (default: one per core).

    ``model`` gives what the devices share (curves, priority, settings); its ``params`` is replaced by
    each device's row of ``params``. Returns whole-run totals ``(packs[device, pack, PACK column],
    device[device, DEVICE column], stats[device, STATS column])``, as :func:`run_device` records them.
    """
    n_devices, n_packs, _ = params.shape
    pack_out = np.zeros((n_devices, n_packs, kernel.N_PACK_COLUMNS))
    dev_out = np.zeros((n_devices, kernel.N_DEVICE_COLUMNS))
    stats_out = np.zeros((n_devices, kernel.N_STATS))

    def one(d: int) -> None:
        records = run_device(model, params[d], energy0_wh[d], energy_est0_wh[d], profiles, float(load_scale[d]), clock)
        pack_out[d], dev_out[d], stats_out[d] = records.pack[0], records.device[0], records.stats

    thread_map(one, n_devices, threads)
    return pack_out, dev_out, stats_out
