"""The report builds from recorded results: HTML page, figures, tables, PNGs and the comparison API."""

from __future__ import annotations

import base64
import gzip
import re
import struct

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from socbal.errors import InputError
from socbal.report import (
    MAIN_FIGURES,
    ReportPage,
    comparison_figures,
    comparison_report,
    comparison_table,
    lines_figure,
    load_run,
    metrics_figure,
    run_figures,
    run_report,
    spread_figure,
    summary_tables,
    write_page,
    write_png,
    write_report,
)
from socbal.report.figures import SPEC_SPREAD_BAND_PCT, aggregate


def embedded(text: str, element_id: str) -> str:
    """The text packed (gzip, base64) into the page's script element ``element_id``."""
    packed = re.search(rf'id="{element_id}">([^<]*)</script>', text)
    assert packed, f"no {element_id} in the page"
    return gzip.decompress(base64.b64decode(packed.group(1))).decode("utf-8")


def png_size(path) -> tuple[int, int]:
    """Width and height of a PNG file (checks the signature)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def test_report_html_is_self_contained_with_every_figure(report_dir):
    text = (report_dir / "report.html").read_text()
    for name in ("soc", "spread", "power", "energy_flows", "energy_totals", "cycles"):
        assert f'id="fig-{name.replace("_", "-")}"' in text
    assert not re.search(r"<script[^>]+src=", text), "no external scripts"
    assert not re.search(r"""<link[^>]+href=["']https?:""", text), "no external stylesheets"
    assert text.count('id="socbal-plotlyjs"') == 1 and re.search(r"\* plotly\.js v\d", embedded(text, "socbal-plotlyjs"))
    for caption in ("SOC spread", "Energy", "Packs"):
        assert f"<caption>{caption}</caption>" in text
    assert "spec-example-spec" in text and "backup reserve 10 %" in text


def test_report_writes_the_main_figures_as_png(report_dir):
    pngs = sorted(p.stem for p in (report_dir / "figures").glob("*.png"))
    short_run = [name for name in MAIN_FIGURES if name != "energy_monthly"]  # monthly bars: long runs only
    assert pngs == sorted(short_run)
    for name in short_run:
        width, height = png_size(report_dir / "figures" / f"{name}.png")
        assert width >= 1000 and height >= 500


def test_figures_show_every_pack_true_and_estimated(result):
    figures = run_figures(result)
    soc = figures["soc"]
    assert [t.name for t in soc.data] == ["main true", "main estimated", "p1 true", "p1 estimated"]
    assert soc.data[0].y[0] == pytest.approx(result.packs.query("pack_id == 'main'")["soc_true_pct"].iloc[0])
    assert any(s.y0 == 10.0 for s in soc.layout.shapes), "reserve line"
    power = figures["power"]
    stacked = [t for t in power.data if t.stackgroup == "discharge"]
    assert [t.name for t in stacked] == ["main", "p1"]
    # At the start the spec shares 600 W / 300 W of the 900 W load.
    assert stacked[0].y[0] == pytest.approx(600.0, rel=0.02) and stacked[1].y[0] == pytest.approx(300.0, rel=0.02)
    cycles = figures["cycles"].data[0]
    assert list(cycles.y) == pytest.approx([p["throughput_efc"] for p in result.summary["packs"]])


def test_spread_figure_marks_the_spec_band_and_the_reserve(result):
    fig = spread_figure(result)
    rects = [s for s in fig.layout.shapes if s.type == "rect" and s.yref == "y"]
    assert [(r.y0, r.y1) for r in rects] == [SPEC_SPREAD_BAND_PCT]
    assert any("first pack at reserve" in a.text for a in fig.layout.annotations)
    assert any(t.name == "pack at reserve" for t in fig.data)


def test_long_runs_are_aggregated_and_keep_the_spread_peak():
    time_s = np.arange(1, 100_001) * 60.0
    spread = np.zeros(time_s.size)
    spread[54_321] = 42.0
    frame = pd.DataFrame({"spread": spread, "soc": np.linspace(0, 100, time_s.size)}, index=pd.Index(time_s, name="time_s"))
    small = aggregate(frame, 500, {"spread": "max", "soc": "mean"})
    assert len(small) <= 500
    assert small["spread"].max() == 42.0
    assert small.index[-1] == time_s[-1]
    assert aggregate(frame.iloc[:10], 500) is not None and len(aggregate(frame.iloc[:10], 500)) == 10


def test_summary_tables_show_never_happened_as_nan(result):
    summary = {**result.summary, "spread": {**result.summary["spread"], "first_reserve_h": None}}
    tables = summary_tables(summary)
    assert np.isnan(tables["SOC spread"].loc["first pack at reserve", "value"])
    assert list(tables["Packs"].index) == ["main", "p1"]
    assert "—" in ReportPage("t").add_table(tables["SOC spread"]).to_html()


def test_the_spread_figure_of_a_one_pack_device_says_n_a_instead_of_a_flat_0():
    import socbal

    one = {"run": {"step_s": 300, "horizon_h": 1}, "main": {"id": "main"}, "load": {"kind": "constant", "power_w": 300}}
    fig = spread_figure(socbal.simulate(one))
    assert not fig.data and "n/a (one pack)" in fig.layout.title.text


def test_summary_tables_say_why_a_spread_is_missing(result):
    # A one-pack device has no spread (null, not 0); a spread that ends above a threshold never settled below it.
    one = {**result.summary, "packs": result.summary["packs"][:1], "spread": {"first_reserve_h": 2.0}}
    units = summary_tables(one)["SOC spread"]["unit"]
    assert units["max"] == units["settles below 5 points"] == "n/a (one pack)" and units["first pack at reserve"] == "h"
    unsettled = {**result.summary, "spread": {**result.summary["spread"], "settled_below_1_h": None}}
    assert summary_tables(unsettled)["SOC spread"].loc["settles below 1 point", "unit"] == "never (ends above)"


def test_in_memory_result_needs_an_output_path(result, tmp_path):
    with pytest.raises(ValueError, match="out is required"):
        write_report(result)
    html, pngs = write_report(result, tmp_path / "r.html", png=False)
    assert html.is_file() and pngs == []
    assert run_report(result).figures.keys() == run_figures(result).keys()


def test_load_run_names_the_folder_and_what_is_expected(tmp_path, results_dir):
    with pytest.raises(InputError, match=f"not found: {tmp_path / 'missing'}"):
        load_run(tmp_path / "missing")
    with pytest.raises(InputError, match=f"{tmp_path}: no simulation results here: missing packs.parquet"):
        load_run(tmp_path)
    run = load_run(results_dir)
    assert run.label == "spec-example-spec" and run.pack_ids == ["main", "p1"] and run.reserve_pct == 10.0
    assert run.scenario["name"] == "spec-example-spec"


def test_comparison_of_two_strategies(result, result_equal, tmp_path):
    runs = {"spec": result, "equal": result_equal}
    table = comparison_table(runs)
    assert list(table.index) == ["spec", "equal"]
    assert table.loc["spec", "max_spread_pct"] == pytest.approx(40.0)
    figures = comparison_figures(runs)
    assert set(figures) == {"spread", "total_soc", "cycles", "metrics"}
    assert [t.name for t in figures["spread"].data] == ["spec", "equal"]
    page = comparison_report(runs, title="Strategies")
    html, pngs = write_page(page, tmp_path / "compare.html", png_dir=tmp_path / "png", png_figures=["spread", "metrics"])
    assert html.read_text().count('id="socbal-plotlyjs"') == 1
    assert [p.name for p in pngs] == ["spread.png", "metrics.png"] and all(png_size(p)[0] > 0 for p in pngs)


def test_same_labels_are_made_unique(result):
    assert list(comparison_table([result, result]).index) == ["spec-example-spec", "spec-example-spec (2)"]


def test_tidy_tables_and_lines_for_other_commands(tmp_path):
    tidy = pd.DataFrame(
        {
            "strategy": ["spec", "spec", "droop", "droop"] * 2,
            "topology": ["dcdc"] * 4 + ["series"] * 4,
            "metric": ["loss_kwh", "cycles"] * 4,
            "value": [1.0, 10.0, 1.2, 11.0, 2.0, 12.0, 2.5, 13.0],
        }
    )
    fig = metrics_figure(tidy, label="strategy", group="topology", title="Topologies")
    assert len(fig.data) == 4 and {t.name for t in fig.data} == {"dcdc", "series"}
    fade = pd.DataFrame(
        {
            "years": np.tile(np.arange(11.0), 2),
            "capacity_pct": np.r_[100 - np.arange(11.0), 100 - 2 * np.arange(11.0)],
            "strategy": ["spec"] * 11 + ["equal"] * 11,
        }
    )
    lines = lines_figure(fade, x="years", y="capacity_pct", color_by="strategy", title="Capacity")
    assert [t.name for t in lines.data] == ["spec", "equal"]
    for name, figure in {"metrics": fig, "lines": lines}.items():
        assert png_size(write_png(figure, tmp_path / f"{name}.png"))[0] > 0


def test_page_api_orders_blocks_and_escapes_text(tmp_path):
    page = ReportPage("A <b> report", subtitle="x & y")
    page.add_heading("Part one").add_text("<script>alert(1)</script>")
    page.add_figure("one", go.Figure(go.Scatter(x=[1, 2], y=[3, 4])))
    page.add_table(pd.DataFrame({"a": [1.0]}), caption="T")
    with pytest.raises(ValueError, match="already on the page"):
        page.add_figure("one", go.Figure())
    text = page.write(tmp_path / "p.html").read_text()
    assert "&lt;script&gt;alert(1)" in text and "A &lt;b&gt; report" in text
    assert text.index('id="part-one"') < text.index('id="fig-one"') < text.index("<caption>T</caption>")
