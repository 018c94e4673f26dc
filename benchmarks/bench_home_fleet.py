"""Home fleet benchmark: prints figures (not a test). Run: python benchmarks/bench_home_fleet.py [--homes N]

examples/home_fleet.toml (up to 3 devices per home, a day at 2 s) for --homes homes: homes/s on this machine's
cores (threads) and on a Dask LocalCluster of --workers processes, pack-steps/s, the process's peak memory
(max RSS) against the fleet's memory estimate, and whether both runners gave the same tables. A short --hours
with many --homes measures the memory that grows with the fleet. Each runner runs a
short warm-up first (compile cache, cluster start-up apart).
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "home_fleet.toml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--homes", type=int, default=200)
    parser.add_argument("--hours", type=float, default=None, help="horizon, h; default the example's (24)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-dask", action="store_true", help="threads only")
    args = parser.parse_args()

    import pandas as pd

    from socbal.fleet import home_runner
    from socbal.fleet.pool import thread_count
    from socbal.home.engine import home_inputs
    from socbal.home.scenario import home_scenario_from_dict
    from socbal.tomlfile import read_toml

    raw = read_toml(EXAMPLE, "scenario")
    if args.hours is not None:
        raw["run"]["horizon_h"] = args.hours
    scenario = home_scenario_from_dict(raw, base_dir=EXAMPLE.parent)
    home_runner.run_home_fleet(scenario, homes=2, seed=0)  # warm-up: compile or load the cache
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    plain = home_runner.run_home_fleet(scenario, homes=args.homes, seed=1)
    threads_s = time.perf_counter() - started
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    pack_steps = scenario.run.n_steps * float(
        sum(sum(len(d.all_packs) for d in scenario.devices[:n]) for n in plain.homes["n_devices"])
    )
    inputs = home_inputs(scenario)
    profile_bytes = inputs.profiles.load_w.nbytes + inputs.profiles.pv_w.nbytes
    estimate = home_runner.memory_estimate_bytes(scenario, args.homes, thread_count(), profile_bytes)
    print(
        f"threads ({thread_count()}): {args.homes} homes in {threads_s:.1f} s: {args.homes / threads_s:.1f} homes/s, "
        f"{pack_steps / threads_s / 1e6:.1f} M pack-steps/s"
    )
    print(f"peak RSS {rss1:.0f} MB ({rss1 - rss0:+.0f} MB over the warm-up); the fleet's estimate {estimate / 1e6:.1f} MB")
    for n in (10_000, 1_000_000):
        need = home_runner.memory_estimate_bytes(scenario, n, thread_count(), profile_bytes)
        print(f"estimate for {n} homes: {need / 1e9:.2f} GB")
    if not args.no_dask:
        home_runner.run_home_fleet_dask(scenario, homes=2, seed=0, workers=args.workers)  # warm-up (each worker)
        started = time.perf_counter()
        on_dask = home_runner.run_home_fleet_dask(scenario, homes=args.homes, seed=1, workers=args.workers)
        dask_s = time.perf_counter() - started
        pd.testing.assert_frame_equal(plain.homes, on_dask.homes, check_exact=True)
        pd.testing.assert_frame_equal(plain.devices, on_dask.devices, check_exact=True)
        print(
            f"Dask LocalCluster ({args.workers} workers, start-up included): {dask_s:.1f} s: "
            f"{args.homes / dask_s:.1f} homes/s; identical tables"
        )


if __name__ == "__main__":
    main()
