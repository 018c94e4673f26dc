"""The live home controller's handover to a slow starter: how long and how much the home imports while one device
hands over to another.

    python benchmarks/bench_handover.py [--runs 5] [--trace]

The scenario of the e2e test ``test_a_handover_to_a_slow_starter_leaves_no_gap_longer_than_a_few_meter_periods``:
a small Marstek carries a 700 W load alone and runs out (packs 60 times faster); an Indevolt (1 s between requests,
its documented minimum) with a 6 s delay on every command must take over. The emulated home runs in a background
thread, the controller (``socbal run``'s :class:`HomeController`) here, all on 127.0.0.1, with a 1 s meter. Prints
per run the energy imported, every import above 50 W (start, length, mean power), the longest in s and meter
periods, the decisions per second; then the median and worst. ``--trace`` prints the home every 0.2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' emulated home and e2e scenario

from tests.emulators.home_harness import HomeInThread  # noqa: E402
from tests.homectl.harness import running  # noqa: E402
from tests.homectl.test_home_e2e import (  # noqa: E402
    GAP_W,
    HandoverSample,
    imported_wh,
    longest_import_s,
    slow_starter_config,
    slow_starter_home,
    trace_handover,
)

from socbal.homectl.controller import HomeController  # noqa: E402


def import_runs(samples: list[HandoverSample]) -> list[tuple[float, float, float]]:
    """(start s, length s, mean W) of every run of import above GAP_W."""
    out: list[tuple[float, float, float]] = []
    run: list[HandoverSample] = []
    for s in [*samples, None]:
        if s is not None and s.grid_w > GAP_W:
            run.append(s)
        elif run:
            out.append(
                (run[0].time_s - samples[0].time_s, run[-1].time_s - run[0].time_s, statistics.fmean(r.grid_w for r in run))
            )
            run = []
    return out


async def one_run(tmp: Path, trace: bool) -> tuple[float, float]:
    """(longest import s, energy imported Wh) of one handover; prints its figures."""
    with HomeInThread(slow_starter_home(), speed=60.0) as h:
        ctl = HomeController(slow_starter_config(tmp, h))
        async with running(ctl):
            samples = await trace_handover(h, ctl)
    period_s = h.home.scenario.meter.period_s
    gap = longest_import_s([(s.time_s, s.grid_w) for s in samples])
    rate = (samples[-1].decisions - samples[0].decisions) / (samples[-1].time_s - samples[0].time_s)
    runs = ", ".join(f"{a:.1f}+{b:.1f} ({w:.0f} W)" for a, b, w in import_runs(samples))
    taken = samples[-1].indevolt_w > 600 and samples[-1].marstek_w < 50
    print(f"  imported {imported_wh(samples):.2f} Wh; imports above {GAP_W:g} W (start s + length s): {runs or 'none'}")
    print(
        f"  longest {gap:.1f} s = {gap / period_s:.1f} meter periods; {rate:.2f} decisions/s" + ("" if taken else "; NO TAKEOVER")
    )
    if trace:
        print("    t_s   grid_w  marstek_w (cmd)  indevolt_w (cmd)  decisions")
        for s in samples[::2]:
            print(
                f"  {s.time_s - samples[0].time_s:6.1f} {s.grid_w:7.0f} {s.marstek_w:9.0f} ({s.marstek_commanded_w:4.0f})"
                f" {s.indevolt_w:10.0f} ({s.indevolt_commanded_w:4.0f}) {s.decisions:6d}"
            )
    return gap, imported_wh(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--trace", action="store_true")
    args = parser.parse_args()
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # its frame dumps
    gaps, energies = [], []
    for k in range(args.runs):
        print(f"run {k + 1}:")
        with tempfile.TemporaryDirectory() as tmp:
            gap, energy = asyncio.run(one_run(Path(tmp), args.trace))
        gaps.append(gap)
        energies.append(energy)
    print(
        f"longest import: median {statistics.median(gaps):.1f} s, worst {max(gaps):.1f} s; imported: median "
        f"{statistics.median(energies):.2f} Wh, worst {max(energies):.2f} Wh; {args.runs} runs, 1 s meter"
    )


if __name__ == "__main__":
    main()
