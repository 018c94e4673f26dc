"""One-year report budget: examples/lifetime.toml's device for a year at 60 s, recorded every 15 min.

Prints the simulation and report times, the HTML size (budget 3 MB) and, with Chromium installed,
the time from navigation start until the page's loader drew the last figure (budget 5 s).
Run: python benchmarks/report_year.py
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from socbal.report import write_report
from socbal.scenario import load_scenario
from socbal.sim.engine import simulate

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "lifetime.toml"


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="socbal-year-") as tmp:
        started = time.perf_counter()
        result = simulate(load_scenario(EXAMPLE))
        simulated = time.perf_counter()
        html, _ = write_report(result.save(Path(tmp) / "year"), png=False)
        reported = time.perf_counter()
        print(f"simulate: {simulated - started:.1f} s, report: {reported - simulated:.1f} s")
        print(f"report.html: {html.stat().st_size / 1e6:.2f} MB (budget 3 MB)")
        chromium = shutil.which("chromium")
        if chromium is None:
            print("chromium not installed: open time not measured")
            return
        command = [chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp}/profile",
                   "--virtual-time-budget=15000", "--dump-dom", html.as_uri()]  # fmt: skip
        dom = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False).stdout
        drawn = re.search(r'data-plotted-ms="(\d+)"', dom)
        print(f"drawn in headless Chromium after {int(drawn.group(1)) / 1000:.2f} s (budget 5 s)" if drawn else "never drawn")


if __name__ == "__main__":
    main()
