"""Run a home fleet: draw the homes, then run each over the compiled home loop, on threads or Dask workers.

Each home is recorded as one interval (its whole run) and reduced to a row of metrics in the worker, so memory
grows with the number of homes, not with the horizon. Both runners call the same loop on the same draws
(:mod:`socbal.fleet.pool`), so they give identical results.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import NamedTuple, Optional

import numpy as np

from socbal.device.params import N_PARAMS, PARAM_BELIEVED_CAPACITY_WH, PARAM_CAPACITY_WH
from socbal.errors import InputError
from socbal.fleet.budget import available_memory_bytes, size_and_seed
from socbal.fleet.home_results import DEVICE_METRICS, HOME_METRICS, HomeFleetResult, build_home_fleet_result
from socbal.fleet.home_sample import HomeFleetDraw, draw_homes
from socbal.fleet.pool import run_on_dask, thread_count, thread_map
from socbal.home import loop
from socbal.home.engine import HomeInputs, home_inputs, prepare_home
from socbal.home.fleetspec import HomeFleetSpec
from socbal.home.results import between_devices, home_without_rounding
from socbal.home.scenario import HomeScenario
from socbal.sim import kernel as sk
from socbal.sim.columns import PACK, STATS
from socbal.sim.metrics import losses_kwh
from socbal.wording import count

log = logging.getLogger(__name__)

WH_PER_KWH = 1000.0
#: A fleet whose estimated memory exceeds this share of the available memory is refused; above WARN_SHARE, warned.
REFUSE_SHARE = 0.8
WARN_SHARE = 0.4
#: Working copies per result byte: the result arrays, their tables and the Parquet buffers written from them.
TABLE_COPIES = 4


class HomeFleetBase(NamedTuple):
    """What every home of the fleet shares: the loop's inputs per number of devices (whole-run clock) and each
    pack's SOC-estimate error (full home, % points)."""

    variants: dict[int, HomeInputs]
    estimate_error_pct: np.ndarray


def memory_available_bytes() -> float:
    """Memory this process may still take, bytes (the one-device fleet's rule: cgroup-aware); unknown is no limit."""
    have = available_memory_bytes()
    return float("inf") if have is None else have


def memory_estimate_bytes(scenario: HomeScenario, homes: int, threads: int, profile_bytes: int) -> int:
    """Bytes a home fleet of ``homes`` homes needs at most: draws, per-home results and their tables, and each
    thread's copy of the profiles (``profile_bytes`` for one home)."""
    n_dev = len(scenario.devices)
    n_packs = sum(len(d.all_packs) for d in scenario.devices)
    draws = homes * (n_packs * (3 + N_PARAMS) + 3) * 8
    results = homes * (len(HOME_METRICS) + n_dev * len(DEVICE_METRICS)) * 8
    return draws + TABLE_COPIES * results + threads * 2 * profile_bytes


def check_memory(scenario: HomeScenario, homes: int, threads: int, profile_bytes: int, field: str = "fleet.homes") -> None:
    """Refuse a fleet that would not fit in memory, naming the estimate and ``field`` (where the count came from:
    ``--homes`` or ``fleet.homes``); warn when it takes much of it."""
    need = memory_estimate_bytes(scenario, homes, threads, profile_bytes)
    have = memory_available_bytes()
    text = f"{homes} homes need about {need / 1e9:.2f} GB in memory; {have / 1e9:.2f} GB are available"
    if need > REFUSE_SHARE * have:
        raise InputError(f"{field}: value {homes} is not allowed: {text}; run fewer homes or split them over several runs")
    if need > WARN_SHARE * have:
        log.warning("%s: %s", field, text)


def prepare_home_fleet(
    scenario: HomeScenario, homes: Optional[int] = None, seed: Optional[int] = None, threads: Optional[int] = None
) -> tuple[HomeFleetBase, HomeFleetDraw, int, int]:
    """The fleet's shared inputs and drawn homes: ``(base, draw, homes, seed)``; bad sizes and a fleet that would
    not fit in memory are refused before anything is drawn."""
    spec = scenario.fleet if scenario.fleet is not None else HomeFleetSpec()
    field = "fleet.homes" if homes is None else "--homes"
    homes, seed = size_and_seed("homes", homes, spec.homes, seed, spec.seed)
    n_all = len(scenario.devices)
    if spec.device_count is not None and spec.device_count[1] > n_all:
        raise InputError(
            f"fleet.device_count: value {list(spec.device_count)} is not allowed: the home has "
            f"{count(n_all, 'device')}, at most {n_all}"
        )
    counts = range(spec.device_count[0], spec.device_count[1] + 1) if spec.device_count is not None else [n_all]
    full = home_inputs(scenario)
    profile_bytes = full.profiles.load_w.nbytes + full.profiles.pv_w.nbytes
    check_memory(scenario, homes, thread_count(threads), profile_bytes, field)
    whole_run = sk.Clock(full.clock.step_s, full.clock.n_steps, full.clock.n_steps)
    variants = {}
    for n in counts:
        inputs = full if n == n_all else home_inputs(scenario.model_copy(update={"devices": scenario.devices[:n]}))
        variants[n] = inputs._replace(clock=whole_run)
    error = np.array([p.soc_estimate_error_pct for d in scenario.devices for p in d.all_packs])
    return HomeFleetBase(variants, error), draw_homes(scenario, spec, homes, seed), homes, seed


def run_home(
    inputs: HomeInputs, capacity_scale: np.ndarray, soc0_pct: np.ndarray, error_pct: np.ndarray, load_scale: float,
    pv_scale: float,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """One home over the whole run (its packs' capacity scales, initial SOCs and estimate errors, its load and PV
    scales): ``(HOME_METRICS values, DEVICE_METRICS values per device)``."""
    model = inputs.model
    params = model.params.copy()
    params[:, PARAM_CAPACITY_WH] *= capacity_scale
    params[:, PARAM_BELIEVED_CAPACITY_WH] *= capacity_scale
    profiles = inputs.profiles._replace(load_w=inputs.profiles.load_w * load_scale, pv_w=inputs.profiles.pv_w * pv_scale)
    own = inputs._replace(
        model=model._replace(params=params),
        profiles=profiles,
        soc_true0_pct=np.array(soc0_pct, dtype=np.float64),
        soc_est0_pct=np.clip(soc0_pct + error_pct, 0.0, 100.0),
    )
    state, scratch, records = prepare_home(own)
    n_steps = own.clock.n_steps
    loop.advance_home(own.model, own.profiles, own.clock, state, scratch, records, 0, n_steps)
    sk.finish(records.pack, n_steps, n_steps)
    loop.finish_home(records.home, records.devices, n_steps, n_steps)
    return home_metrics(own, records)


def home_metrics(inputs: HomeInputs, records: loop.HomeRecords) -> tuple[np.ndarray, np.ndarray]:
    """A home's whole-run record (one row) reduced to :data:`HOME_METRICS` and per device :data:`DEVICE_METRICS`."""
    home, stats = records.home[0], records.home_stats
    dev, drow, pack = records.device[0], records.devices[0], records.pack[0]
    capacity_wh = inputs.model.params[:, PARAM_CAPACITY_WH]
    horizon_h = inputs.clock.n_steps * inputs.clock.step_s / 3600.0
    n_dev = len(inputs.model.first)
    owner = np.repeat(np.arange(n_dev), inputs.model.n_packs)
    per_device = lambda values: np.bincount(owner, weights=values, minlength=n_dev)  # noqa: E731
    stored0_wh = per_device(inputs.soc_true0_pct / 100.0 * capacity_wh)
    stored1_wh = per_device(pack[:, PACK["soc_true_pct"]] / 100.0 * capacity_wh)
    conversion_wh = per_device(pack[:, PACK["dcdc_loss_wh"]] + pack[:, PACK["i2r_loss_wh"]])
    standby_wh = per_device(pack[:, PACK["standby_wh"]])
    main_unit_wh = dev[:, sk.D_MAIN].sum()
    grid_import = home[loop.H_IMPORT] / WH_PER_KWH
    export = home[loop.H_EXPORT] / WH_PER_KWH
    stored_change = (stored1_wh.sum() - stored0_wh.sum()) / WH_PER_KWH
    values = {
        "load_kwh": home[loop.H_LOAD] / WH_PER_KWH,
        "pv_kwh": dev[:, sk.D_PV].sum() / WH_PER_KWH,
        "pv_curtailed_kwh": dev[:, sk.D_CURTAILED].sum() / WH_PER_KWH,
        "grid_import_kwh": grid_import,
        "export_kwh": export,
        "net_import_kwh": grid_import - export,
        "net_import_storage_corrected_kwh": grid_import - export - stored_change,
        "stored_change_kwh": stored_change,
        "served_by_storage_kwh": home[loop.H_SERVED] / WH_PER_KWH,
        "storage_ac_kwh": home[loop.H_STORAGE_AC] / WH_PER_KWH,
        "avoidable_import_kwh": home[loop.H_AVOIDABLE_IMPORT] / WH_PER_KWH,
        "avoidable_export_kwh": home[loop.H_AVOIDABLE_EXPORT] / WH_PER_KWH,
        "cross_charge_kwh": home[loop.H_CROSS] / WH_PER_KWH,
        "max_handover_gap_s": between_devices(stats[loop.S_GAP], n_dev),
        "battery_unserved_kwh": dev[:, sk.D_BATT_UNSERVED].sum() / WH_PER_KWH,
        "losses_kwh": losses_kwh({"conversion_loss": conversion_wh.sum(), "standby": standby_wh.sum(), "main_unit": main_unit_wh})
        / WH_PER_KWH,
        "main_unit_kwh": main_unit_wh / WH_PER_KWH,
        "device_soc_spread_max_pct": between_devices(stats[loop.S_SPREAD_MAX], n_dev),
        "writes_per_device_per_h_max": drow[:, loop.DR_WRITES].max() / horizon_h,
        "staging_switches": stats[loop.S_STAGE_SWITCHES],
        "meter_stale_s": stats[loop.S_STALE],
    }
    devices = {
        "capacity_kwh": per_device(capacity_wh) / WH_PER_KWH,
        "initial_soc_pct": 100.0 * stored0_wh / per_device(capacity_wh),
        "final_soc_pct": drow[:, loop.DR_SOC_TRUE],
        "discharge_kwh": dev[:, sk.D_DISCHARGE] / WH_PER_KWH,
        "charge_kwh": dev[:, sk.D_CHARGE] / WH_PER_KWH,
        "conversion_loss_kwh": conversion_wh / WH_PER_KWH,
        "standby_kwh": standby_wh / WH_PER_KWH,
        "battery_unserved_kwh": dev[:, sk.D_BATT_UNSERVED] / WH_PER_KWH,
        "writes_per_h": drow[:, loop.DR_WRITES] / horizon_h,
        "staged_on_h": drow[:, loop.DR_STAGED_S] / 3600.0,
        "first_reserve_h": records.stats[:, STATS["first_reserve_time_s"]] / 3600.0,
    }
    values = home_without_rounding(values)
    return np.array([values[k] for k in HOME_METRICS]), np.stack([devices[k] for k in DEVICE_METRICS], axis=1)


def run_home_chunk(base: HomeFleetBase, draw: HomeFleetDraw, threads: Optional[int] = None) -> tuple[np.ndarray, np.ndarray]:
    """Run the homes of ``draw`` in this process on ``threads`` threads (default: one per core): ``(home_out[home,
    HOME_METRICS], device_out[home, device, DEVICE_METRICS])``, NaN for the devices a home does not keep."""
    n_homes = len(draw.n_devices)
    n_max = max(base.variants)
    home_out = np.zeros((n_homes, len(HOME_METRICS)))
    device_out = np.full((n_homes, n_max, len(DEVICE_METRICS)), np.nan)

    def one(h: int) -> None:
        inputs = base.variants[int(draw.n_devices[h])]
        p = len(inputs.soc_true0_pct)
        home_out[h], device_out[h, : len(inputs.model.first)] = run_home(
            inputs, draw.capacity_scale[h, :p], draw.soc0_pct[h, :p], base.estimate_error_pct[:p], float(draw.load_scale[h]),
            float(draw.pv_scale[h]),
        )  # fmt: skip

    thread_map(one, n_homes, threads)
    return home_out, device_out


def run_home_fleet(
    scenario: HomeScenario,
    homes: Optional[int] = None,
    seed: Optional[int] = None,
    threads: Optional[int] = None,
    on_start: Optional[Callable[[], object]] = None,
) -> HomeFleetResult:
    """Simulate the home fleet in this process, the homes shared over ``threads`` cores (default: all); ``on_start``
    is called once the fleet is drawn and checked, before the first simulation."""
    base, draw, homes, seed = prepare_home_fleet(scenario, homes, seed, threads)
    if on_start is not None:
        on_start()
    home_out, device_out = run_home_chunk(base, draw, threads)
    return build_home_fleet_result(scenario, draw, home_out, device_out, seed)


def run_home_fleet_dask(
    scenario: HomeScenario,
    homes: Optional[int] = None,
    seed: Optional[int] = None,
    scheduler: Optional[str] = None,
    workers: int = 2,
    chunks: Optional[int] = None,
    on_start: Optional[Callable[[], object]] = None,
) -> HomeFleetResult:
    """Simulate the home fleet on Dask (``scheduler`` or a LocalCluster of ``workers`` processes, ``chunks`` pieces);
    results are identical to :func:`run_home_fleet` for the same seed."""
    base, draw, homes, seed = prepare_home_fleet(scenario, homes, seed, threads=workers)
    if on_start is not None:
        on_start()
    parts = run_on_dask(run_home_chunk, base, draw.chunk, homes, scheduler, workers, chunks)
    home_out, device_out = (np.concatenate([p[k] for p in parts]) for k in range(2))
    return build_home_fleet_result(scenario, draw, home_out, device_out, seed)
