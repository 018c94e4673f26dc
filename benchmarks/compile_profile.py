"""Where a first run's compile goes, per compiled function: prints figures (not a test).

Run: python benchmarks/compile_profile.py [SCENARIO.toml] (default examples/home_two_units.toml; a home or one device)

Simulates the scenario once in this process with an empty Numba cache (a temporary NUMBA_CACHE_DIR) and
prints, from Numba's compile events, each compiled function's CPU time exclusive of the functions it
compiled on the way (inclusive too), how often it was compiled (more than once: one line per signature, a
duplicate specialisation), and the CPU time LLVM spent per code library: optimising its functions, the
module with its callees linked in, and generating machine code.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="socbal-compile-profile-")

import numba.core.codegen as codegen  # noqa: E402
import numba.core.event as numba_event  # noqa: E402

LLVM_PHASES = {
    "_optimize_functions": "LLVM functions",
    "_optimize_final_module": "LLVM module",
    "_finalize_specific": "machine code",
}
llvm_s: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
compiles: list[tuple[str, str, float, float]] = []  # name, signature, inclusive s, exclusive s


class CompileTimes(numba_event.Listener):
    """Inclusive and exclusive CPU time of every ``numba:compile`` event."""

    def __init__(self) -> None:
        self.open: list[list] = []

    def on_start(self, event: numba_event.Event) -> None:
        func = event.data["dispatcher"].py_func
        self.open.append([f"{func.__module__}.{func.__qualname__}", str(event.data["args"]), time.process_time(), 0.0])

    def on_end(self, event: numba_event.Event) -> None:
        name, signature, started, children = self.open.pop()
        inclusive = time.process_time() - started
        compiles.append((name, signature, inclusive, inclusive - children))
        if self.open:
            self.open[-1][3] += inclusive


def timed(cls: type, method: str, phase: str) -> None:
    """Add the CPU time of ``cls.method`` to ``llvm_s[phase][library name]``."""
    original = getattr(cls, method)

    def wrapper(self, *args, **kwargs):
        started = time.process_time()
        try:
            return original(self, *args, **kwargs)
        finally:
            llvm_s[phase][self.name.split("$")[0]] += time.process_time() - started

    setattr(cls, method, wrapper)


def main() -> None:
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "examples/home_two_units.toml")
    for method, phase in LLVM_PHASES.items():
        timed(codegen.JITCodeLibrary, method, phase)
    numba_event.register("numba:compile", CompileTimes())
    from socbal.home.scenario import home_scenario_from_dict, is_home
    from socbal.tomlfile import read_toml

    raw = read_toml(path, "scenario")
    started = time.process_time()
    if is_home(raw):
        from socbal.home.engine import simulate_home

        simulate_home(home_scenario_from_dict(raw, source=str(path), base_dir=path.parent))
    else:
        from socbal.scenario import scenario_from_dict
        from socbal.sim.engine import simulate

        simulate(scenario_from_dict(raw, source=str(path), base_dir=path.parent))
    print(f"{path}: simulate {time.process_time() - started:.1f} s CPU; compile {sum(c[3] for c in compiles):.1f} s CPU")
    per_function: dict[str, list] = defaultdict(lambda: [0.0, 0.0, set()])
    for name, signature, inclusive, exclusive in compiles:
        per_function[name][0] += exclusive
        per_function[name][1] += inclusive
        per_function[name][2].add(signature)
    print("exclusive s  inclusive s  signatures  function")
    for name, (exclusive, inclusive, signatures) in sorted(per_function.items(), key=lambda kv: -kv[1][0]):
        print(f"{exclusive:11.2f}  {inclusive:11.2f}  {len(signatures):10d}  {name}")
        for signature in sorted(signatures) if len(signatures) > 1 else ():
            print(f"{'':38}{signature[:200]}")
    for phase, libraries in llvm_s.items():
        top = sorted(libraries.items(), key=lambda kv: -kv[1])[:6]
        print(f"{phase}: {sum(libraries.values()):.1f} s CPU; most: " + ", ".join(f"{n} {s:.2f}" for n, s in top))


if __name__ == "__main__":
    main()
