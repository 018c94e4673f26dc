"""Instructions per step of the one-device loop (or the home loop), counted by valgrind's callgrind: prints figures
(not a test).

Run: OPENBLAS_NUM_THREADS=1 python benchmarks/count_instructions.py [--steps 200000] [--src src]
     (--loop home: bench_home's home of 3 devices x 4 packs; --compile-natively: compile outside valgrind, faster;
     --branch-sim: with simulated branch mispredictions; --top N: with them, the N branches mispredicted most)

The count is exact and the same on every run of the same build, where a timing on a shared machine moves by 1-2 %
between interleaved runs: the way to see an exact change of a few instructions per step (``ab_loop.py`` says what it
does to the time). Runs bench_sim's device (main unit + 5 packs, its scenario as long as ``--steps``) at 1 s in a
child process under callgrind and sums the instructions executed inside the code mapping that holds the compiled
loop (``socbal.sim.kernel.advance``, found as ``profile_loop.py`` finds it). Under valgrind the CPU reports fewer
features (no AVX-512 here), so Numba compiles the loop afresh for it (a few minutes, once per build and cache): the
count is of that build, close to but not the same as the native one's. Needs ``valgrind`` and ``objdump`` on the PATH.

``--branch-sim``: also count the loop's conditional branches and how many valgrind's simulated branch predictor
mispredicts (``callgrind --branch-sim=yes``): a hint where a loop may wait on branches, which its instruction count
does not show; a CPU's predictor does better. ``--top N`` lists the N branches it mispredicts most, by offset from
the loop's entry (as ``profile_loop.py`` gives them), with their instruction (disassembled with ``objdump``).

Also printed: the loop's hot code, the instructions run at least once every 10 steps, and the 64-byte cache lines
they lie in: what a step needs in the CPU's instruction caches (which a count of instructions does not show either).

``--compile-natively``: compile outside valgrind instead, for the CPU that valgrind reports (``NUMBA_CPU_NAME`` and
``NUMBA_CPU_FEATURES`` set to what llvmlite detects under valgrind, in the compiling child and the counted one alike,
so the counted run loads that build from the cache): about 2 minutes a count instead of 15-20 on two loaded cores
(the home loop's compile under valgrind would take half an hour), and the same count (bench_sim's device on
4ae32db: 2365.9 per step either way).
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def child(steps: int, loop: str, meter_period_s: float, code_path: str) -> None:
    """Load the loop, copy its code mapping to ``code_path`` and print it (``MAPPING start end entry``, hex), then run
    ``steps`` steps (the home's meter reading every ``meter_period_s``)."""
    sys.path.insert(0, HERE)
    from profile_loop import _home, _one_device, code_mapping, save_code

    hours = steps / 3600.0
    run, dispatcher, _ = _home(hours, meter_period_s) if loop == "home" else _one_device(hours)
    entry, start, end = code_mapping(dispatcher)
    save_code(start, end, code_path)
    print(f"MAPPING {start:x} {end:x} {entry:x}", flush=True)
    run()


def costs_in(out_path: str, start: int, end: int) -> dict[int, dict[str, int]]:
    """Each event's count per address in ``[start, end)`` (``Ir``: instructions; with ``--branch-sim=yes`` also ``Bc``
    and ``Bcm``, conditional branches and their mispredictions), from a callgrind file written with
    ``--dump-instr=yes`` (its ``events:`` line names the columns; positions ``instr line``: absolute, ``+``/``-``
    relative or ``*`` repeated addresses; a call's inclusive cost line, after ``calls=``, is left out)."""
    events: list[str] = []
    costs: dict[int, dict[str, int]] = {}
    address = 0
    after_call = False
    with open(out_path) as lines:
        for line in lines:
            if line.startswith("events:"):
                events = line.split()[1:]
                continue
            if line.startswith("calls="):
                after_call = True
                continue
            if not line or line[0] not in "+-*0123456789":
                continue
            parts = line.split()
            position = parts[0]
            if position.startswith("0x"):
                address = int(position, 16)
            elif position[0] in "+-":
                address += int(position, 0)
            elif position != "*":
                continue
            if after_call:
                after_call = False
                continue
            if start <= address < end:
                at = costs.setdefault(address, dict.fromkeys(events, 0))
                for event, count in zip(events, parts[2:]):  # a line may leave out its trailing zero counts
                    at[event] += int(count)
    return costs


def hot_code(costs: dict[int, dict[str, int]], code: dict[int, str], steps: int) -> tuple[int, int]:
    """``(instructions, cache lines)`` of the code run at least once every 10 steps: how many instructions and how many
    64-byte lines they lie in (an instruction's size from the next one's address in the disassembly ``code``)."""
    addresses = sorted(code)
    size = {a: b - a for a, b in zip(addresses, addresses[1:])}
    hot = [a for a, c in costs.items() if c["Ir"] >= steps / 10]
    lines = {line for a in hot for line in range(a // 64, (a + size.get(a, 1) - 1) // 64 + 1)}
    return len(hot), len(lines)


def valgrind_cpu(env: dict[str, str]) -> dict[str, str]:
    """``NUMBA_CPU_NAME`` and ``NUMBA_CPU_FEATURES`` of the CPU that a program under valgrind sees (llvmlite's view)."""
    probe = "import llvmlite.binding as ll; print('CPU', ll.get_host_cpu_name(), ll.get_host_cpu_features().flatten())"
    run = subprocess.run(
        ["valgrind", "--tool=none", "-q", os.path.realpath(sys.executable), "-c", probe],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    lines = [line.split() for line in run.stdout.splitlines() if line.startswith("CPU ")]
    if run.returncode != 0 or not lines:
        raise SystemExit(f"could not read valgrind's CPU:\n{run.stderr[-3000:]}")
    return {"NUMBA_CPU_NAME": lines[-1][1], "NUMBA_CPU_FEATURES": lines[-1][2]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200_000)
    parser.add_argument("--src", default=None, help="source folder to import socbal from (default: as installed)")
    parser.add_argument("--loop", choices=("one", "home"), default="one", help="one: bench_sim's device; home: bench_home's")
    parser.add_argument("--compile-natively", action="store_true", help="compile outside valgrind, for its CPU (faster)")
    parser.add_argument(
        "--branch-sim",
        action="store_true",
        help="also count conditional branches and the mispredictions of valgrind's simulated predictor",
    )
    parser.add_argument("--top", type=int, default=0, help="with --branch-sim: list the N branches mispredicted most")
    sys.path.insert(0, HERE)
    from bench_home import METER_PERIOD_S

    parser.add_argument(
        "--meter-period-s", type=float, default=METER_PERIOD_S, help="home: how often the meter reads (the home decision runs), s"
    )
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--code-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.steps < 10:
        parser.error(f"--steps: value {args.steps} is not allowed: at least 10 steps")
    if not args.meter_period_s > 0.0:
        parser.error(f"--meter-period-s: value {args.meter_period_s:g} is not allowed: must be above 0 s")
    if args.top < 0 or (args.top and not args.branch_sim):
        parser.error(f"--top: value {args.top} is not allowed: a number of branches >= 0, with --branch-sim")
    if args.child is not None:
        child(args.child, args.loop, args.meter_period_s, args.code_out)
        return
    missing = [tool for tool in ("valgrind", "objdump") if shutil.which(tool) is None]
    if missing:
        raise SystemExit(f"count_instructions needs {' and '.join(missing)} on the PATH (e.g. apt-get install valgrind binutils)")
    from profile_loop import disassembly

    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    if args.src:
        env["PYTHONPATH"] = os.path.abspath(args.src)
    with tempfile.TemporaryDirectory() as tmp:
        out_path, code_path = os.path.join(tmp, "callgrind.out"), os.path.join(tmp, "code.bin")
        child_args = ["--loop", args.loop, "--meter-period-s", str(args.meter_period_s), "--code-out", code_path]
        if args.compile_natively:
            env.update(valgrind_cpu(env))
            compiled = subprocess.run(
                [sys.executable, __file__, "--child", "10", *child_args], capture_output=True, text=True, env=env, check=False
            )
            if compiled.returncode != 0:
                raise SystemExit(f"compiling for valgrind's CPU failed:\n{compiled.stderr[-3000:]}")
        run = subprocess.run(
            ["valgrind", "--tool=callgrind", "--dump-instr=yes", f"--callgrind-out-file={out_path}"]
            + (["--branch-sim=yes"] if args.branch_sim else [])
            + [os.path.realpath(sys.executable), __file__, "--child", str(args.steps), *child_args],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        if run.returncode != 0:
            raise SystemExit(f"valgrind failed:\n{run.stderr[-3000:]}")
        start, end, entry = (int(x, 16) for x in run.stdout.split("MAPPING")[-1].split()[:3])
        costs = costs_in(out_path, start, end)
        code = disassembly(code_path, start)
    report(costs, code, entry, args)


def report(costs: dict[int, dict[str, int]], code: dict[int, str], entry: int, args: argparse.Namespace) -> None:
    """Print the per-step figures of ``costs`` (per address, from :func:`costs_in`) for the run of ``args``."""
    steps = args.steps
    what, packs = ("bench_home's home (3 devices x 4 packs)", 12) if args.loop == "home" else ("bench_sim's device (6 packs)", 6)
    total: collections.Counter[str] = collections.Counter()
    for at in costs.values():
        total.update(at)
    print(
        f"{steps} steps of {what}: {total['Ir'] / steps:.1f} instructions per step in the loop's code, "
        f"{total['Ir'] / steps / packs:.1f} per pack-step (callgrind, the build valgrind's CPU gets)"
    )
    n_hot, n_lines = hot_code(costs, code, steps)
    print(
        f"hot code (run at least once every 10 steps): {n_hot} instructions in {n_lines} 64-byte lines ({n_lines / 16:.1f} KiB)"
    )
    if args.branch_sim:
        print(
            f"conditional branches: {total['Bc'] / steps:.1f} per step, {total['Bcm'] / steps:.2f} of them "
            f"mispredicted ({total['Bcm'] / steps / packs:.2f} per pack-step) by valgrind's simulated predictor "
            "(two-bit counters picked by the branch's address and the last few branches: far simpler than a CPU's, "
            "where the exit of a short loop is predicted; compare counts between builds, not with a CPU's)"
        )
    for address in sorted(costs, key=lambda a: -costs[a].get("Bcm", 0))[: args.top]:
        at = costs[address]
        print(
            f"  {address - entry:+#07x}: {at['Bcm'] / steps:6.3f} mispredicted of {at['Bc'] / steps:6.2f} a step  "
            f"{code.get(address, '?')}"
        )


if __name__ == "__main__":
    main()
