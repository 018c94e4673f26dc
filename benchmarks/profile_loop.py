"""Where the one-device loop's time goes, instruction by instruction: prints figures (not a test).

Run: OPENBLAS_NUM_THREADS=1 python benchmarks/profile_loop.py [--hours 2000] [--top 25] [--loop home]

Samples the compiled loop (``socbal.sim.kernel.advance`` on bench_sim's device, or with ``--loop home``
``socbal.home.loop.advance_home`` on bench_home's home of 3 devices; loaded from its compile cache)
with ``perf record -e cpu-clock`` (a software clock: it works where a virtual machine has no hardware counters),
then maps each sample inside the loop's machine code to its offset from the loop's entry: Numba's cached code
has no symbols for perf, so the child process copies the code's memory mapping to a file, disassembled here
with ``objdump``. Prints the loop's share of the samples and its hottest windows of ``--window`` bytes (their
share of the loop's samples and their hottest instructions). A sample lands on the instruction after the one
that stalled (skid): read a hot instruction with the few before it. Needs ``perf`` and ``objdump`` (x86-64).
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))


def _one_device(hours: float) -> tuple[Callable[[], object], Any, int]:
    """bench_sim's device: ``(run, loop dispatcher, pack-steps)``, its compile cache loaded."""
    from bench_sim import scenario

    from socbal.sim import engine, kernel

    inputs = engine.kernel_inputs(scenario(hours))
    engine.run_loop(inputs._replace(clock=kernel.Clock(inputs.clock.step_s, 1, 1)))  # compile-cache load
    return lambda: engine.run_loop(inputs), kernel.advance, inputs.clock.n_steps * len(inputs.soc_true0_pct)


def _home(hours: float, meter_period_s: float | None = None) -> tuple[Callable[[], object], Any, int]:
    """bench_home's home of 3 devices (a meter reading every ``meter_period_s``, default bench_home's): ``(run, loop
    dispatcher, pack-steps)``, its compile cache loaded; ``run`` prepares a fresh state first (a few ms)."""
    from bench_home import METER_PERIOD_S, home_loop

    from socbal.home import loop

    home_loop(1.0)[0]()  # compile-cache load
    run, pack_steps = home_loop(hours, meter_period_s or METER_PERIOD_S)
    return run, loop.advance_home, pack_steps


def code_mapping(dispatcher: Any) -> tuple[int, int, int]:
    """The compiled entry address of ``dispatcher``'s first signature and the start and end of the memory mapping
    (``/proc/self/maps``) that holds it."""
    compiled = dispatcher.overloads[dispatcher.signatures[0]]
    entry = compiled.library.get_pointer_to_function(compiled.fndesc.llvm_func_name)
    with open("/proc/self/maps") as maps:
        for line in maps:
            start, end = (int(x, 16) for x in line.split()[0].split("-"))
            if start <= entry < end:
                return entry, start, end
    raise SystemExit("the loop's code is in no mapping of /proc/self/maps")


def save_code(start: int, end: int, code_path: str) -> None:
    """Copy this process's memory ``[start, end)`` (a code mapping from :func:`code_mapping`) to ``code_path``."""
    import ctypes

    with open(code_path, "wb") as out:
        out.write(ctypes.string_at(start, end - start))


def child(which: str, hours: float, code_path: str) -> None:
    """Run the loop ``which`` (one or home) for ``hours`` in this process after copying its code mapping to
    ``code_path``; prints ``entry mapping_start ns_per_pack_step`` (hex, hex, float)."""
    sys.path.insert(0, HERE)
    run, dispatcher, pack_steps = (_home if which == "home" else _one_device)(hours)
    entry, start, end = code_mapping(dispatcher)
    save_code(start, end, code_path)
    t0 = time.thread_time()
    run()
    ns = 1e9 * (time.thread_time() - t0) / pack_steps
    print(f"{entry:x} {start:x} {ns:.2f}")


def disassembly(code_path: str, start: int) -> dict[int, str]:
    """``{address: instruction}`` of the code mapping copied to ``code_path`` (loaded at ``start``)."""
    out = subprocess.run(
        ["objdump", "-D", "-b", "binary", "-m", "i386:x86-64", f"--adjust-vma={start:#x}", code_path],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = {}
    for line in out.splitlines():
        m = re.match(r"\s*([0-9a-f]+):\s+(?:[0-9a-f]{2} )+\s*(.*)", line)
        if m:
            lines[int(m.group(1), 16)] = m.group(2).strip()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=2000.0, help="horizon of the sampled run, h at 1 s")
    parser.add_argument("--top", type=int, default=25, help="how many hot windows to print")
    parser.add_argument("--window", type=int, default=64, help="bytes of machine code per window")
    parser.add_argument("--loop", choices=("one", "home"), default="one", help="one: bench_sim's device; home: bench_home's")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], float(args.child[1]), args.child[2])
        return
    missing = [tool for tool in ("perf", "objdump") if shutil.which(tool) is None]
    if missing:
        raise SystemExit(f"profile_loop needs {' and '.join(missing)} on the PATH (e.g. apt-get install linux-perf binutils)")
    with tempfile.TemporaryDirectory() as tmp:
        code_path, data_path = os.path.join(tmp, "code.bin"), os.path.join(tmp, "perf.data")
        run = subprocess.run(
            ["perf", "record", "-q", "-e", "cpu-clock", "-F", "4999", "-o", data_path, "--"]
            + [sys.executable, __file__, "--child", args.loop, str(args.hours), code_path],
            capture_output=True,
            text=True,
            env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
            check=False,
        )
        if run.returncode != 0:
            raise SystemExit(f"perf record failed:\n{run.stderr[-3000:]}")
        entry_hex, start_hex, ns = run.stdout.split()[-3:]
        entry, start = int(entry_hex, 16), int(start_hex, 16)
        ips = subprocess.run(["perf", "script", "-i", data_path, "-F", "ip"], capture_output=True, text=True, check=True)
        code = disassembly(code_path, start)
        end = start + os.path.getsize(code_path)
    samples = [int(x, 16) for x in ips.stdout.split()]
    inside = collections.Counter(ip for ip in samples if start <= ip < end)
    total = sum(inside.values())
    print(
        f"{args.hours:g} h at 1 s, {ns} ns per pack-step (CPU time, sampled); {total} of {len(samples)} samples in the "
        f"code mapping that holds the loop ({100 * total / max(len(samples), 1):.0f} %: the rest is start-up, imports "
        "and the cache load); windows by offset from the loop's entry (a negative one is other compiled code):"
    )
    windows: collections.Counter[int] = collections.Counter()
    for ip, n in inside.items():
        windows[(ip - entry) // args.window] += n
    for window, n in windows.most_common(args.top):
        lo = entry + window * args.window
        hot = sorted((a for a in inside if lo <= a < lo + args.window), key=lambda a: -inside[a])[:3]
        where = "; ".join(f"{a - entry:+#x} {100 * inside[a] / total:.1f} % {code.get(a, '?')}" for a in hot)
        print(f"  {window * args.window:+#07x}: {100 * n / total:5.1f} %  ({where})")


if __name__ == "__main__":
    main()
