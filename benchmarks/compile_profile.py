"""Where a first run's compile goes, per compiled function and per compiler phase: prints figures (not a test).

Run: python benchmarks/compile_profile.py [SCENARIO.toml] (default examples/home_two_units.toml; a home or one device)

Simulates the scenario once in this process with an empty Numba cache (a temporary NUMBA_CACHE_DIR) and
prints, from Numba's compile events, each compiled function's CPU time exclusive of the functions it
compiled on the way (inclusive too), how often it was compiled (more than once: one line per signature, a
duplicate specialisation), the CPU time of each compiler phase over all functions (each second counted
once, in the innermost phase running: IR inlining, type inference, lowering, the three LLVM phases,
the rest of the pipeline), and the CPU time LLVM spent per code library: optimising its functions, the
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
import numba.core.inline_closurecall as inline_closurecall  # noqa: E402
import numba.core.lowering as lowering  # noqa: E402
import numba.core.typed_passes as typed_passes  # noqa: E402

LLVM_PHASES = {
    "_optimize_functions": "LLVM functions",
    "_optimize_final_module": "LLVM module",
    "_finalize_specific": "machine code",
}
llvm_s: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
phase_s: dict[str, float] = defaultdict(float)
function_phase_s: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))  # function -> phase -> s
compiles: list[tuple[str, str, float, float]] = []  # name, signature, inclusive s, exclusive s
phases_open: list[list] = []  # [phase, CPU s at start, CPU s of inner phases]


def enter(phase: str) -> None:
    phases_open.append([phase, time.process_time(), 0.0])


def leave() -> float:
    """Close the innermost phase: its time less its inner phases' goes to it; returns its inclusive time."""
    phase, started, inner = phases_open.pop()
    inclusive = time.process_time() - started
    phase_s[phase] += inclusive - inner
    function_phase_s[TIMES.open[-1][0] if TIMES.open else "(outside a compile)"][phase] += inclusive - inner
    if phases_open:
        phases_open[-1][2] += inclusive
    return inclusive


class CompileTimes(numba_event.Listener):
    """Inclusive and exclusive CPU time of every ``numba:compile`` event."""

    def __init__(self) -> None:
        self.open: list[list] = []

    def on_start(self, event: numba_event.Event) -> None:
        func = event.data["dispatcher"].py_func
        self.open.append([f"{func.__module__}.{func.__qualname__}", str(event.data["args"]), time.process_time(), 0.0])
        enter("rest of the pipeline")

    def on_end(self, event: numba_event.Event) -> None:
        leave()
        name, signature, started, children = self.open.pop()
        inclusive = time.process_time() - started
        compiles.append((name, signature, inclusive, inclusive - children))
        if self.open:
            self.open[-1][3] += inclusive


TIMES = CompileTimes()


def timed(owner: object, attribute: str, phase: str, per_library: bool = False) -> None:
    """Count the CPU time of ``owner.attribute`` as ``phase`` (and per code library in ``llvm_s``)."""
    original = getattr(owner, attribute)

    def wrapper(*args, **kwargs):
        enter(phase)
        try:
            return original(*args, **kwargs)
        finally:
            inclusive = leave()
            if per_library:
                llvm_s[phase][args[0].name.split("$")[0]] += inclusive

    setattr(owner, attribute, wrapper)


def main() -> None:
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "examples/home_two_units.toml")
    for method, phase in LLVM_PHASES.items():
        timed(codegen.JITCodeLibrary, method, phase, per_library=True)
    timed(inline_closurecall.InlineWorker, "run_untyped_passes", "IR inlining")
    timed(inline_closurecall.InlineWorker, "inline_ir", "IR inlining")
    timed(typed_passes, "type_inference_stage", "type inference")
    timed(lowering.Lower, "lower", "lowering")
    timed(lowering.Lower, "create_cpython_wrapper", "lowering")
    numba_event.register("numba:compile", TIMES)
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
    print("phases: " + ", ".join(f"{p} {s:.1f}" for p, s in sorted(phase_s.items(), key=lambda kv: -kv[1])))
    per_function: dict[str, list] = defaultdict(lambda: [0.0, 0.0, set()])
    for name, signature, inclusive, exclusive in compiles:
        per_function[name][0] += exclusive
        per_function[name][1] += inclusive
        per_function[name][2].add(signature)
    print(f"{len(per_function)} functions, {len(compiles)} compiles")
    columns = {"IR inlining": "inline", "type inference": "types", "lowering": "lower", "rest of the pipeline": "rest"}
    print("exclusive s  inclusive s  signatures  " + "  ".join(f"{c:>6}" for c in columns.values()) + "    LLVM  function")
    for name, (exclusive, inclusive, signatures) in sorted(per_function.items(), key=lambda kv: -kv[1][0]):
        own = function_phase_s[name]
        split = "  ".join(f"{own[p]:6.2f}" for p in columns) + f"  {sum(own[p] for p in LLVM_PHASES.values()):6.2f}"
        print(f"{exclusive:11.2f}  {inclusive:11.2f}  {len(signatures):10d}  {split}  {name}")
        for signature in sorted(signatures) if len(signatures) > 1 else ():
            print(f"{'':38}{signature[:200]}")
    for phase, libraries in llvm_s.items():
        top = sorted(libraries.items(), key=lambda kv: -kv[1])[:6]
        print(f"{phase}: {sum(libraries.values()):.1f} s CPU; most: " + ", ".join(f"{n} {s:.2f}" for n, s in top))


if __name__ == "__main__":
    main()
