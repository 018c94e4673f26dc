"""Simulator and fleet benchmarks: prints figures (not a test). Run: python benchmarks/bench_sim.py

1. One device (main unit + 5 packs, full model), a year at 1 s, recording every 15 min:
   wall time of a fresh process (imports and compile-cache load included) and pack-steps/s.
2. The same device in the pure-Python reference path (NUMBA_DISABLE_JIT=1), short horizon: the ratio.
3. A fleet of 10,000 devices x 6 packs, one day at 1 s, on all cores: wall time and peak memory.
4. The same fleet on a Dask LocalCluster of 2 workers: the overhead against 3.

Each case runs in its own process, after a warm-up process that fills the compile cache.
Options: --devices N (fleet size, default 10000), --hours H (single-device horizon, default 8760),
--cases 1234 (which of the four to run; 3 and 4 share the fleet, 4 needs 3).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

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


def peak_mb() -> float:
    """Peak resident memory of this process, MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def child(case: str, arg: float) -> dict:
    """One measured case, in this (fresh) process; returns its figures."""
    t0 = time.perf_counter()
    if case == "device":
        from socbal.sim import engine, kernel

        spec = scenario(arg)
        inputs = engine.kernel_inputs(spec)
        t1 = time.perf_counter()
        engine.run_loop(inputs._replace(clock=kernel.Clock(inputs.clock.step_s, 1, 1)))  # compile-cache load, on its own
        t2 = time.perf_counter()
        records = engine.run_loop(inputs)
        t3 = time.perf_counter()
        engine.build_result(spec, records, inputs.soc_true0_pct, inputs.soc_est0_pct)
        t4 = time.perf_counter()
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
        env={**os.environ, **(env or {})},
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"{case} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--hours", type=float, default=8760.0)
    parser.add_argument("--python-hours", type=float, default=0.5)
    parser.add_argument("--cases", default="1234")
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
    if "1" in args.cases or "2" in args.cases:
        one = measure("device", args.hours)
        print(
            f"1. one device, 6 packs, {args.hours:g} h at 1 s ({one['pack_steps'] / 6 / 1e6:.1f} M steps), record 15 min: "
            f"{one['wall_s']:.2f} s wall in a fresh process (setup {one['setup_s']:.2f} s, compile-cache load "
            f"{one['cache_load_s']:.2f} s, loop {one['loop_s']:.2f} s, results {one['results_s']:.2f} s); "
            f"{one['pack_steps_per_s'] / 1e6:.1f} M pack-steps/s in the loop; peak {one['peak_mb']:.0f} MB"
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
        print(
            f"3. fleet, {args.devices} devices x 6 packs x 24 h at 1 s ({fleet['pack_steps'] / 1e6:.0f} M pack-steps), "
            f"all cores: {fleet['wall_s']:.2f} s wall in a fresh process, {fleet['pack_steps_per_s'] / 1e6:.1f} M "
            f"pack-steps/s, peak {fleet['peak_mb']:.0f} MB"
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
