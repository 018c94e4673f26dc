"""First-run compile cost of the CLI commands: prints figures (not a test). Run: python benchmarks/bench_compile.py

Each command runs in a fresh process with an empty Numba cache (a first run), then again with the
cache it filled (a later run); the compile cost is the difference of their CPU times (user + system,
so other work on a shared machine counts less than in wall time). Best of ``--repeats`` runs each.
Options: --repeats R (default 3), --commands simulate,fleet,allocate,home (which to run).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALLOCATE_INPUT = {
    "settings": {"backup_reserve_pct": 10, "ems_version": "1.01.05"},
    "packs": [
        {"id": "main", "soc_pct": 80, "capacity_wh": 1920, "max_discharge_w": 1200, "max_charge_w": 1200},
        {"id": "p1", "soc_pct": 40, "capacity_wh": 1920, "max_discharge_w": 1200, "max_charge_w": 1200},
    ],
    "request": {"discharge_w": 900},
}


def commands(work: str) -> dict[str, list[str]]:
    """The measured commands (arguments of ``socbal``), writing under ``work``."""
    request = os.path.join(work, "allocate.json")
    with open(request, "w", encoding="utf-8") as f:
        json.dump(ALLOCATE_INPUT, f)
    return {
        "simulate": ["simulate", "examples/spec_example.toml", "--out", os.path.join(work, "sim")],
        "fleet": ["fleet", "examples/fleet.toml", "--devices", "2", "--seed", "1", "--out", os.path.join(work, "fleet")],
        "allocate": ["allocate", request],
        "home": ["simulate", "examples/home_two_units.toml", "--out", os.path.join(work, "home")],
    }


def cpu_s(args: list[str], cache_dir: str) -> tuple[float, float]:
    """``(CPU s, wall s)`` of ``socbal ARGS`` in a fresh process with ``NUMBA_CACHE_DIR=cache_dir``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "socbal", "--quiet", *args],
        cwd=ROOT,
        env={**os.environ, "NUMBA_CACHE_DIR": cache_dir, "OPENBLAS_NUM_THREADS": "1"},
        check=True,
        stdout=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--commands", default="simulate,fleet,allocate,home")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as work:
        runs = commands(work)
        for name in args.commands.split(","):
            first, later, first_wall = [], [], []
            for r in range(args.repeats):
                cache = os.path.join(work, f"cache-{name}-{r}")
                cpu, wall = cpu_s(runs[name], cache)
                first.append(cpu)
                first_wall.append(wall)
                later.append(cpu_s(runs[name], cache)[0])
            print(
                f"socbal {name}: first run {min(first):.1f} s CPU ({min(first_wall):.1f} s wall), later runs "
                f"{min(later):.1f} s CPU: compile {min(first) - min(later):.1f} s CPU (best of {args.repeats})"
            )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
