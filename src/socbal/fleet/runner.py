"""Run a fleet: draw the devices, then simulate them over this machine's cores or on Dask workers.

Both runners call the same compiled loop on the same draws, so they give identical results.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Optional

import numpy as np

from socbal.device.params import PARAM_BELIEVED_CAPACITY_WH, PARAM_CAPACITY_WH
from socbal.fleet.budget import check_fleet_budget, size_and_seed
from socbal.fleet.kernel import run_devices
from socbal.fleet.pool import run_on_dask
from socbal.fleet.results import FleetResult, build_fleet_result
from socbal.fleet.sample import FleetDraw, draw_fleet
from socbal.scenario import FleetSpec
from socbal.sim.engine import KernelInputs, kernel_inputs


def prepare_fleet(scenario, devices: Optional[int] = None, seed: Optional[int] = None, dask: bool = False):
    """The scenario's kernel inputs and the drawn fleet: ``(base, draw, devices, seed)``.

    A fleet that would not fit this machine's memory is refused, and a long one warned about,
    before anything is drawn (:func:`socbal.fleet.budget.check_fleet_budget`).
    """
    spec = scenario.fleet if getattr(scenario, "fleet", None) is not None else FleetSpec()
    field = "fleet.devices" if devices is None else "--devices"
    devices, seed = size_and_seed("devices", devices, spec.devices, seed, spec.seed)
    check_fleet_budget(devices, len(scenario.all_packs), scenario.run.n_steps, field, dask=dask)
    base = kernel_inputs(scenario)
    return base, draw_fleet(base, scenario.all_packs, spec, devices, seed), devices, seed


def run_chunk(base: KernelInputs, draw: FleetDraw, threads: Optional[int] = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Simulate the devices of ``draw`` in this process on ``threads`` threads (default: one per core);
    returns ``(pack_out, dev_out, stats)``."""
    return run_devices(
        base.model,
        draw.params,
        draw.soc_true0_pct / 100.0 * draw.params[:, :, PARAM_CAPACITY_WH],
        draw.soc_est0_pct / 100.0 * draw.params[:, :, PARAM_BELIEVED_CAPACITY_WH],
        base.profiles,
        draw.load_scale,
        base.clock,
        threads,
    )


def run_fleet(
    scenario,
    devices: Optional[int] = None,
    seed: Optional[int] = None,
    threads: Optional[int] = None,
    on_start: Optional[Callable[[], object]] = None,
) -> FleetResult:
    """Simulate the fleet in this process, the devices shared over ``threads`` cores (default: all); ``on_start`` is
    called once the fleet is drawn and checked, before the first simulation (the CLI's compile note)."""
    base, draw, devices, seed = prepare_fleet(scenario, devices, seed)
    if on_start is not None:
        on_start()
    pack_out, dev_out, stats = run_chunk(base, draw, threads)
    return build_fleet_result(scenario, draw, pack_out, dev_out, stats, seed=seed)


def run_fleet_dask(
    scenario,
    devices: Optional[int] = None,
    seed: Optional[int] = None,
    scheduler: Optional[str] = None,
    workers: int = 2,
    chunks: Optional[int] = None,
    on_start: Optional[Callable[[], object]] = None,
) -> FleetResult:
    """Simulate the fleet on Dask: ``scheduler`` (``tcp://HOST:PORT``) or a LocalCluster of ``workers`` processes.

    The devices are split into ``chunks`` contiguous pieces (default: two per worker thread); the
    workers need socbal installed. Results are identical to :func:`run_fleet` for the same seed.
    """
    base, draw, devices, seed = prepare_fleet(scenario, devices, seed, dask=True)
    if on_start is not None:
        on_start()
    parts = run_on_dask(run_chunk, base, draw.chunk, devices, scheduler, workers, chunks)
    pack_out, dev_out, stats = (np.concatenate([p[k] for p in parts]) for k in range(3))
    return build_fleet_result(scenario, draw, pack_out, dev_out, stats, seed=seed)
