"""Simulator and fleet benchmarks: prints figures (not a test). Run: OPENBLAS_NUM_THREADS=1 python benchmarks/bench_sim.py

0. The yardstick: a bare compiled kernel of proportional sharing (clip to the rating, fixed efficiency,
   2 W standby) on the same pack-steps as the full model, interleaved with it in one process; the
   full model's pack-step rate is reported as a ratio to the bare kernel's (only ratios measured in
   one run compare on a shared machine), with a digest of the full model's records. The bare kernel is
   compiled twice in the process: as LLVM vectorises it over the packs (nothing in it branches per pack),
   and with LLVM's loop and SLP vectorisers off for it alone (one pack at a time, as the full model runs,
   which LLVM cannot vectorise); both ratios are printed, with the nanoseconds per pack-step of each.
1. One device (main unit + 5 packs, full model), a year at 1 s, recording every 15 min:
   wall time of a fresh process (imports and compile-cache load included) and pack-steps/s.
2. The same device in the pure-Python reference path (NUMBA_DISABLE_JIT=1), short horizon: the ratio.
3. A fleet of 1,000 devices x 6 packs, one day at 1 s, on all cores: wall time, peak memory, the pack-step rate
   per core and its ratio to the one-device loop's rate on the fleet's base device (240 h recorded hourly,
   as the fleet records almost nothing; one core, loop only).
4. The same fleet on a Dask LocalCluster of 2 workers: the overhead against 3.

Each case runs in its own process, after a warm-up process that fills the compile cache.
Options: --devices N (fleet size, default 1000), --hours H (single-device horizon, default 8760),
--ratio-hours H (horizon of case 0, default 720), --repeats R (interleaved repeats of case 0, default 3),
--cases 01234 (which to run; 3 and 4 share the fleet, 4 needs 3).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
from numba import njit

HERE = os.path.dirname(os.path.abspath(__file__))


def scenario(hours: float, record_every_s: float | None = 900.0, fleet: bool = False):
    """Main unit + 5 packs with DC-DC curves, standby draws and an estimator with sensor errors."""
    from socbal.scenario import scenario_from_dict

    packs = [
        dict(
            id=f"p{i}",
            soc_pct=30.0 + 10 * i,
            soh_pct=95.0 - 4 * i,
            internal_resistance_ohm=0.02 + 0.005 * i,
            sensor_offset_w=0.5 * (i - 2),
            sensor_gain_error=0.002 * i,
            sensor_deadband_w=1.0,
        )
        for i in range(1, 6)
    ]
    raw = dict(
        name="bench",
        run=dict(step_s=1, horizon_h=hours, record_every_s=record_every_s),
        settings=dict(backup_reserve_pct=10, strategy="spec"),
        device=dict(ac_output_limit_w=800, pv_input_limit_w=2000, aux_power_module=True),
        main=dict(id="main", soc_pct=80, sensor_offset_w=1.0, sensor_deadband_w=1.0),
        packs=packs,
        load=dict(kind="synthetic-household", daily_kwh=9),
        pv=dict(kind="synthetic-clear-sky", peak_w=1800),
        grid=dict(outages_h=[[50.0, 56.0]]),
    )
    if fleet:
        raw["fleet"] = dict(
            capacity_spread_pct=2,
            resistance_spread_pct=10,
            old_pack_share=0.3,
            new_soh_pct=[96, 100],
            sensor_offset_std_w=1.5,
            sensor_gain_error_std=0.005,
            soc_estimate_error_std_pct=1,
            initial_soc_pct=[20, 90],
            load_scale_sigma=0.3,
        )
    return scenario_from_dict(raw)


def bare_kernel(
    load_w: np.ndarray,
    pv_w: np.ndarray,
    capacity_wh: np.ndarray,
    rated_w: np.ndarray,
    energy_wh: np.ndarray,
    step_s: float,
    n_steps: int,
    steps_per_record: int,
    records: np.ndarray,
) -> None:
    """The yardstick: share the net load (load - PV, W, per 1 s profile value) among the packs by
    capacity, clip each share to its rating and its energy, fixed 95 % efficiency, 2 W standby; record
    each pack's mean power per row. Updates ``energy_wh`` (Wh) and ``records[row, pack]`` in place."""
    n = energy_wh.shape[0]
    to_wh = step_s / 3600.0
    total_capacity = capacity_wh.sum()
    for k in range(n_steps):
        t = min(int(k * step_s), load_w.shape[0] - 1)
        request_w = load_w[t] - pv_w[min(int(k * step_s), pv_w.shape[0] - 1)]
        row = k // steps_per_record
        for i in range(n):
            share_w = request_w * capacity_wh[i] / total_capacity
            share_w = min(max(share_w, -rated_w[i]), rated_w[i])
            cell_w = share_w / 0.95 if share_w > 0.0 else share_w * 0.95
            energy = energy_wh[i] - (cell_w + 2.0) * to_wh
            energy_wh[i] = min(max(energy, 0.0), capacity_wh[i])
            records[row, i] += share_w


def compiled_bare_kernels():
    """The bare kernel compiled twice in this process: as LLVM vectorises it over the packs, and without
    vectorisation (the same machine code per pack as the full model, which LLVM cannot vectorise)."""
    from socbal.jit_pipeline import without_vectorisers

    vectorised = njit(cache=False, error_model="numpy")(bare_kernel)
    scalar = njit(cache=False, error_model="numpy")(bare_kernel)
    tiny = (np.zeros(1), np.zeros(1), np.ones(1), np.ones(1), np.ones(1), 1.0, 1, 1, np.zeros((1, 1)))
    vectorised(*tiny)
    with without_vectorisers():
        scalar(*tiny)
    return vectorised, scalar


def digest(records) -> str:
    """Short hash of every recorded number (pack, device and statistics records): equal digests, identical results."""
    h = hashlib.sha256()
    for part in records:
        h.update(np.ascontiguousarray(part).tobytes())
    return h.hexdigest()[:16]


def ratio_case(hours: float, repeats: int) -> dict:
    """The full model and the bare kernel (vectorised and not) on the same pack-steps, interleaved ``repeats``
    times; best rates (CPU time of this thread: a shared machine's other work does not count)."""
    from socbal.device.params import PARAM_CAPACITY_WH, PARAM_MAX_DISCHARGE_W
    from socbal.profiles.holding import values_at
    from socbal.sim import engine, kernel

    spec = scenario(hours)
    inputs = engine.kernel_inputs(spec)
    engine.run_loop(inputs._replace(clock=kernel.Clock(inputs.clock.step_s, 1, 1)))  # compile-cache load
    clock = inputs.clock
    n_packs = len(spec.all_packs)
    pack_steps = clock.n_steps * n_packs
    params = inputs.model.params
    capacity = np.ascontiguousarray(params[:, PARAM_CAPACITY_WH])
    rated = np.ascontiguousarray(params[:, PARAM_MAX_DISCHARGE_W])
    # The bare kernel reads the same profiles, held at 1 s.
    t_s = np.arange(0.0, clock.n_steps * clock.step_s, 1.0)
    profiles = inputs.profiles
    load = np.ascontiguousarray(values_at(profiles.load_w, profiles.load_step_s, t_s))
    pv = np.ascontiguousarray(values_at(profiles.pv_w, profiles.pv_step_s, t_s))
    n_rec = (clock.n_steps + clock.steps_per_record - 1) // clock.steps_per_record
    bare = dict(zip(("vectorised", "scalar"), compiled_bare_kernels()))
    times: dict[str, list[float]] = {"full": [], "vectorised": [], "scalar": []}
    digests = set()
    for _ in range(repeats):
        t0 = time.thread_time()
        records = engine.run_loop(inputs)
        times["full"].append(time.thread_time() - t0)
        digests.add(digest(records))
        for name, run in bare.items():
            rows = np.zeros((n_rec, n_packs))
            t0 = time.thread_time()
            run(load, pv, capacity, rated, 0.5 * capacity, clock.step_s, clock.n_steps, clock.steps_per_record, rows)
            times[name].append(time.thread_time() - t0)
    best = {name: min(t) for name, t in times.items()}
    return dict(
        pack_steps=pack_steps,
        ns_per_pack_step={name: 1e9 * t / pack_steps for name, t in best.items()},
        per_s={name: pack_steps / t for name, t in best.items()},
        ratio_vectorised=best["vectorised"] / best["full"],
        ratio_scalar=best["scalar"] / best["full"],
        digest=",".join(sorted(digests)),
    )


def ratio_line(r: dict, hours: float, repeats: int) -> str:
    """Case 0's figures as one line."""
    rate, ns = r["per_s"], r["ns_per_pack_step"]
    return (
        f"0. full model / bare kernel, {hours:g} h at 1 s x 6 packs ({r['pack_steps'] / 1e6:.0f} M pack-steps), best of "
        f"{repeats} interleaved, CPU time: full {rate['full'] / 1e6:.1f} M pack-steps/s ({ns['full']:.1f} ns), bare "
        f"{rate['scalar'] / 1e6:.0f} M ({ns['scalar']:.2f} ns) not vectorised, {rate['vectorised'] / 1e6:.0f} M "
        f"({ns['vectorised']:.2f} ns) vectorised: ratio {r['ratio_scalar']:.3f} against the scalar bare kernel, "
        f"{r['ratio_vectorised']:.3f} against the vectorised one; records digest {r['digest']}"
    )


def peak_mb() -> float:
    """Peak resident memory of this process, MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def child(case: str, arg: float) -> dict:
    """One measured case, in this (fresh) process; returns its figures."""
    t0 = time.perf_counter()
    if case == "ratio":
        return ratio_case(arg, int(os.environ.get("SOCBAL_BENCH_REPEATS", "3")))
    if case in ("device", "fleet-device"):
        from socbal.sim import engine, kernel

        spec = scenario(arg) if case == "device" else scenario(arg, 3600.0, fleet=True)
        inputs = engine.kernel_inputs(spec)
        t1 = time.perf_counter()
        engine.run_loop(inputs._replace(clock=kernel.Clock(inputs.clock.step_s, 1, 1)))  # compile-cache load, on its own
        t2 = time.perf_counter()
        records = engine.run_loop(inputs)
        t3 = time.perf_counter()
        engine.build_result(spec, records, inputs.soc_true0_pct, inputs.soc_est0_pct)
        t4 = time.perf_counter()
        records_digest = digest(records)
        pack_steps = spec.run.n_steps * len(spec.all_packs)
        return dict(
            wall_s=t4 - t0,
            setup_s=t1 - t0,
            cache_load_s=t2 - t1,
            loop_s=t3 - t2,
            results_s=t4 - t3,
            pack_steps=pack_steps,
            pack_steps_per_s=pack_steps / (t3 - t2),
            peak_mb=peak_mb(),
            digest=records_digest,
        )
    if case in ("fleet", "dask"):
        from socbal.fleet.runner import run_fleet, run_fleet_dask

        spec = scenario(24.0, None, fleet=True)
        if case == "fleet":
            result = run_fleet(spec, devices=int(arg), seed=1)
        else:
            result = run_fleet_dask(spec, devices=int(arg), seed=1, workers=2)
        wall = time.perf_counter() - t0
        pack_steps = int(arg) * spec.run.n_steps * len(spec.all_packs)
        return dict(
            wall_s=wall,
            pack_steps=pack_steps,
            pack_steps_per_s=pack_steps / wall,
            peak_mb=peak_mb(),
            p50_max_spread_pct=result.summary["distribution"]["max_spread_pct"]["p50"],
        )
    raise SystemExit(f"unknown case {case}")


def measure(case: str, arg: float, env: dict | None = None) -> dict:
    """Run ``case`` in a fresh process and return its figures."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", case, str(arg)],
        capture_output=True,
        text=True,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1", **(env or {})},
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"{case} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1_000)
    parser.add_argument("--hours", type=float, default=8760.0)
    parser.add_argument("--ratio-hours", type=float, default=720.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--python-hours", type=float, default=0.5)
    parser.add_argument("--cases", default="01234")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], float(args.child[1]))))
        return

    print(
        f"load average before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}, {os.cpu_count()} cores"
    )
    measure("device", 0.01)  # warm-up: fill the compile caches
    measure("fleet", 2)
    if "0" in args.cases:
        r = measure("ratio", args.ratio_hours, env={"SOCBAL_BENCH_REPEATS": str(args.repeats)})
        print(ratio_line(r, args.ratio_hours, args.repeats))
    if "1" in args.cases or "2" in args.cases:
        one = measure("device", args.hours)
        print(
            f"1. one device, 6 packs, {args.hours:g} h at 1 s ({one['pack_steps'] / 6 / 1e6:.1f} M steps), record 15 min: "
            f"{one['wall_s']:.2f} s wall in a fresh process (setup {one['setup_s']:.2f} s, compile-cache load "
            f"{one['cache_load_s']:.2f} s, loop {one['loop_s']:.2f} s, results {one['results_s']:.2f} s); "
            f"{one['pack_steps_per_s'] / 1e6:.1f} M pack-steps/s in the loop; peak {one['peak_mb']:.0f} MB; "
            f"records digest {one['digest']}"
        )
        ref = measure("device", args.python_hours, env={"NUMBA_DISABLE_JIT": "1"})
        short = measure("device", args.python_hours)
        print(
            f"2. pure-Python reference path (NUMBA_DISABLE_JIT=1), {args.python_hours:g} h at 1 s: loop "
            f"{ref['loop_s']:.2f} s = {ref['pack_steps_per_s'] / 1e3:.1f} k pack-steps/s; compiled: "
            f"{short['pack_steps_per_s'] / 1e6:.1f} M pack-steps/s; "
            f"ratio {short['pack_steps_per_s'] / ref['pack_steps_per_s']:,.0f}x "
            f"(against the year run's loop: {one['pack_steps_per_s'] / ref['pack_steps_per_s']:,.0f}x)"
        )
    if "3" in args.cases or "4" in args.cases:
        fleet = measure("fleet", args.devices)
        base = measure("fleet-device", 240.0)
        cores = os.cpu_count() or 1
        per_core = fleet["pack_steps_per_s"] / cores
        print(
            f"3. fleet, {args.devices} devices x 6 packs x 24 h at 1 s ({fleet['pack_steps'] / 1e6:.0f} M pack-steps), "
            f"all {cores} cores: {fleet['wall_s']:.2f} s wall in a fresh process, {fleet['pack_steps_per_s'] / 1e6:.1f} M "
            f"pack-steps/s ({per_core / 1e6:.1f} M per core), peak {fleet['peak_mb']:.0f} MB; the one-device loop on "
            f"the fleet's base device (240 h, hourly records): {base['pack_steps_per_s'] / 1e6:.1f} M pack-steps/s on one core; "
            f"ratio per core {per_core / base['pack_steps_per_s']:.2f}"
        )
    if "4" in args.cases:
        on_dask = measure("dask", args.devices)
        print(
            f"4. the same fleet on a Dask LocalCluster of 2 workers: {on_dask['wall_s']:.2f} s wall "
            f"(overhead {on_dask['wall_s'] - fleet['wall_s']:+.2f} s, {on_dask['wall_s'] / fleet['wall_s']:.2f}x); "
            f"driver peak {on_dask['peak_mb']:.0f} MB; same p50 max spread: "
            f"{on_dask['p50_max_spread_pct'] == fleet['p50_max_spread_pct']}"
        )
    print(f"load average after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")


if __name__ == "__main__":
    main()
