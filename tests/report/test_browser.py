"""Open the report in headless Chromium: every plot rendered as SVG, no console messages, a screenshot.

Chromium comes from Debian (``apt-get install -y chromium``; CI installs it). Locally the
test skips when it is absent. It runs offline: the report must need nothing from the network.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import tempfile
from html.parser import HTMLParser

import pytest

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
if CHROMIUM is None and os.environ.get("SOCBAL_REQUIRE_SERVICES"):  # set by .ci/run: CI must not skip
    raise RuntimeError("SOCBAL_REQUIRE_SERVICES is set but chromium is not installed (apt-get install -y chromium)")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium); CI installs it")
N_FIGURES = 6  # soc, spread, power, energy_flows, energy_totals, cycles


def chromium(url: str, *args: str, timeout_s: float = 60.0) -> subprocess.CompletedProcess:
    """Run headless Chromium once with a fresh profile, offline-friendly flags and console logging."""
    with tempfile.TemporaryDirectory(prefix="socbal-chromium-") as profile:
        command = [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            "--hide-scrollbars",
            "--virtual-time-budget=15000",
            *args,
            url,
        ]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)


def console_messages(stderr: str) -> list[str]:
    """The page's console output as Chromium logs it (``...:CONSOLE:12] "message", source: ...``)."""
    return re.findall(r":CONSOLE[:(]\d+\)?\] (.*)", stderr)


class PlotCounter(HTMLParser):
    """Counts plotly plot divs, and the SVG roots and data traces inside them."""

    def __init__(self) -> None:
        super().__init__()
        self.plots: list[dict] = []
        self._depth: list[int] = []  # nesting depth of each open plot div
        self.level = 0

    def handle_starttag(self, tag, attrs):
        classes = (dict(attrs).get("class") or "").split()
        if tag not in ("br", "img", "input", "meta", "link", "path", "rect", "line", "circle", "text", "stop"):
            self.level += 1
        if tag == "div" and "js-plotly-plot" in classes:
            self.plots.append({"svg": 0, "traces": 0})
            self._depth.append(self.level)
        if self._depth:
            if tag == "svg" and "main-svg" in classes:
                self.plots[-1]["svg"] += 1
            if "trace" in classes:
                self.plots[-1]["traces"] += 1

    def handle_endtag(self, tag):
        if tag in ("path", "rect", "line", "circle", "text", "stop"):
            return
        if self._depth and self.level == self._depth[-1]:
            self._depth.pop()
        self.level -= 1


@pytest.fixture(scope="module")
def rendered(report_dir):
    url = (report_dir / "report.html").as_uri()
    run = chromium(url, "--dump-dom")
    assert run.returncode == 0, run.stderr[-2000:]
    return run


def test_every_plot_renders_as_svg(rendered):
    parser = PlotCounter()
    parser.feed(rendered.stdout)
    assert len(parser.plots) == N_FIGURES, f"found {len(parser.plots)} rendered plots"
    for i, plot in enumerate(parser.plots):
        assert plot["svg"] >= 1, f"plot {i} has no SVG"
        assert plot["traces"] >= 1, f"plot {i} drew no data trace"


def test_no_console_messages(rendered):
    assert console_messages(rendered.stderr) == []


def test_console_messages_are_detected(tmp_path):
    """The console check itself works: a page that logs an error is caught."""
    page = tmp_path / "bad.html"
    page.write_text("<html><body><script>console.error('boom'); missing();</script></body></html>")
    messages = console_messages(chromium(page.as_uri(), "--dump-dom").stderr)
    assert any("boom" in m for m in messages) and any("missing is not defined" in m for m in messages)


def test_screenshot(report_dir, tmp_path):
    shot = tmp_path / "report.png"
    run = chromium((report_dir / "report.html").as_uri(), f"--screenshot={shot}", "--window-size=1280,2400")
    assert run.returncode == 0 and shot.is_file(), run.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1280, 2400)
    assert len(data) > 50_000, "a screenshot of a rendered page, not a blank one"


# --- the one-year report ------------------------------------------------------------------------

YEAR_FIGURES = 7  # soc and spread per day, week view, monthly energy, energy totals, monthly reserve, cycles
OPEN_BUDGET_MS = 5000


@pytest.fixture(scope="module")
def year_rendered(year_report):
    run = chromium(year_report.as_uri(), "--dump-dom")
    assert run.returncode == 0, run.stderr[-2000:]
    return run


def test_year_report_opens_within_budget_without_console_messages(year_rendered):
    """Every figure drawn, timed in the page (performance.now() when the last figure is drawn)."""
    parser = PlotCounter()
    parser.feed(year_rendered.stdout)
    assert len(parser.plots) == YEAR_FIGURES and all(p["svg"] >= 1 and p["traces"] >= 1 for p in parser.plots)
    plotted = re.search(r'data-plotted-ms="(\d+)"', year_rendered.stdout)
    assert plotted, "the loader never finished drawing"
    assert int(plotted.group(1)) < OPEN_BUDGET_MS
    assert console_messages(year_rendered.stderr) == []


def test_year_week_view_draws_the_week_at_full_resolution(year_rendered):
    """The week view's SOC lines have a vertex per 15-min record of the shown week (about 672), not a daily point."""
    dom = year_rendered.stdout
    week = dom[dom.index('id="fig-week"') :]
    lines = re.findall(r'class="js-line"[^>]*\sd="([^"]*)"', week[: week.index('id="fig-energy-monthly"')])
    assert lines, "no line drawn in the week view"
    assert max(path.count("L") for path in lines) > 7 * 96 * 0.6


# --- the home report ----------------------------------------------------------------------------

HOME_FIGURES = 5  # pains, device SOC, device power, writes, grid


def test_home_report_renders_every_plot_without_console_messages(home_report_dir):
    run = chromium((home_report_dir / "report.html").as_uri(), "--dump-dom")
    assert run.returncode == 0, run.stderr[-2000:]
    parser = PlotCounter()
    parser.feed(run.stdout)
    assert len(parser.plots) == HOME_FIGURES and all(p["svg"] >= 1 and p["traces"] >= 1 for p in parser.plots)
    assert console_messages(run.stderr) == []


# --- the home fleet report ----------------------------------------------------------------------


def test_home_fleet_report_renders_its_histograms_without_console_messages(tmp_path):
    from socbal.fleet.home_runner import run_home_fleet
    from socbal.report import write_folder_report
    from tests.fleet.test_home_fleet import small_home

    folder = run_home_fleet(small_home(hours=0.5), homes=8, seed=2).save(tmp_path / "h-fleet")
    html, _ = write_folder_report(folder, png=False)
    run = chromium(html.as_uri(), "--dump-dom")
    assert run.returncode == 0, run.stderr[-2000:]
    parser = PlotCounter()
    parser.feed(run.stdout)
    assert len(parser.plots) == 1 and parser.plots[0]["svg"] >= 1 and parser.plots[0]["traces"] == 4
    assert console_messages(run.stderr) == []
