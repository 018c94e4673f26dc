"""Two checkouts' one-device loop (or home loop), interleaved: prints figures (not a test).

Run: OPENBLAS_NUM_THREADS=1 python benchmarks/ab_loop.py /work/main/src src --rounds 6
     (--bench home: bench_home's cases 1 and 2, the home loop against the one-device loop, ratio home / one)

Each round runs :mod:`bench_sim`'s case 0 (the full model and the bare kernel, interleaved in one fresh
process) once for each source folder, alternating which goes first; the ratio full / bare of each is
measured in its own process, so the two checkouts' ratios compare even on a loaded machine. Prints every
round (ns per pack-step of the full model and of the scalar bare kernel, the ratio, the load average), then
each checkout's median ratio and the branch's loop time against the base's, from the ratios, and the fastest
full-model run of each (the least disturbed by other work on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

from bench_sim import measure

HERE = os.path.dirname(os.path.abspath(__file__))


def ratio_run(src: str, hours: float, repeats: int) -> dict:
    """Case 0 of ``bench_sim`` with ``src`` first on the import path, in a fresh process."""
    try:
        return measure("ratio", hours, env={"PYTHONPATH": os.path.abspath(src), "SOCBAL_BENCH_REPEATS": str(repeats)})
    except SystemExit as failed:
        raise SystemExit(f"{src}: {failed}") from None


def home_run(src: str, hours: float, repeats: int) -> dict:
    """``bench_home``'s cases 1 and 2 with ``src`` first on the import path, in a fresh process; the ratio as
    ``ratio_run`` gives it (here home / one-device time per pack-step: lower is faster)."""
    out = subprocess.run(
        [sys.executable, os.path.join(HERE, "bench_home.py"), "--hours", str(hours), "--repeats", str(repeats), "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": os.path.abspath(src)},
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"{src}: bench_home failed:\n{out.stderr[-3000:]}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    ns = r["ns_per_pack_step"]
    return dict(ns_per_pack_step={"full": ns["home"], "scalar": ns["one"]}, ratio_scalar=1.0 / r["ratio"], digest=r["digest"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", help="source folder of the base checkout (e.g. /work/main/src)")
    parser.add_argument("branch", help="source folder of the branch (e.g. src)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--hours", type=float, default=240.0, help="horizon of each run, h at 1 s")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats within each run (best taken)")
    parser.add_argument("--bench", choices=("sim", "home"), default="sim", help="sim: full / bare; home: home / one device")
    args = parser.parse_args()
    run = home_run if args.bench == "home" else ratio_run
    yardstick = "one device" if args.bench == "home" else "bare"
    sources = {"base": args.base, "branch": args.branch}
    for name, src in sources.items():  # a folder without socbal would silently time the installed copy
        if not os.path.isfile(os.path.join(src, "socbal", "__init__.py")):
            parser.error(f"{name}: {src!r} holds no socbal package (give a checkout's src folder)")
    for src in sources.values():  # fill both compile caches first
        run(src, 1.0, 1)
    ratios: dict[str, list[float]] = {"base": [], "branch": []}
    full_ns: dict[str, list[float]] = {"base": [], "branch": []}
    for k in range(args.rounds):
        order = ("base", "branch") if k % 2 == 0 else ("branch", "base")
        for name in order:
            r = run(sources[name], args.hours, args.repeats)
            ns = r["ns_per_pack_step"]
            ratios[name].append(r["ratio_scalar"])
            full_ns[name].append(ns["full"])
            load = os.getloadavg()
            print(
                f"round {k + 1} {name:6s}: full {ns['full']:.1f} ns/pack-step, {yardstick} {ns['scalar']:.2f} ns, "
                f"ratio {r['ratio_scalar']:.4f}, digest {r['digest']}, load {load[0]:.2f} {load[1]:.2f}",
                flush=True,
            )
    base, branch = statistics.median(ratios["base"]), statistics.median(ratios["branch"])
    print(
        f"median ratio: base {base:.4f}, branch {branch:.4f}; branch loop time / base {base / branch:.3f} "
        f"({100 * (base / branch - 1):+.1f} %), per-round range {min(ratios['branch']):.4f}-{max(ratios['branch']):.4f} "
        f"against {min(ratios['base']):.4f}-{max(ratios['base']):.4f}"
    )
    fastest = {name: min(values) for name, values in full_ns.items()}
    print(
        f"fastest full model: base {fastest['base']:.1f} ns/pack-step, branch {fastest['branch']:.1f} ns "
        f"(branch / base {fastest['branch'] / fastest['base']:.3f}); the best ratio: base {max(ratios['base']):.4f}, "
        f"branch {max(ratios['branch']):.4f}"
    )


if __name__ == "__main__":
    main()
