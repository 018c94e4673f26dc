"""The Python API importable from ``socbal``: simulate from a path, a dict or a Scenario, Series inputs, wide frames."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import socbal
from socbal.errors import InputError

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SPEC = EXAMPLES / "spec_example.toml"


def test_import_socbal_is_light():
    code = "import socbal, sys; print('pandas' in sys.modules, 'numba' in sys.modules, 'pydantic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ["False", "False", "False"]


def test_public_names_resolve_and_unknown_ones_fail():
    assert socbal.simulate.__module__ == "socbal.api" and socbal.Scenario.__name__ == "Scenario"
    assert {"simulate", "load_scenario", "allocate", "SimulationResult", "Result"} <= set(dir(socbal))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        socbal.nope  # noqa: B018


def test_a_path_a_dict_and_a_scenario_simulate_alike():
    from socbal.tomlfile import read_toml

    by_path = socbal.simulate(SPEC)
    by_dict = socbal.simulate(read_toml(SPEC, "scenario"))
    by_model = socbal.simulate(socbal.load_scenario(SPEC))
    for other in (by_dict, by_model):
        assert other.summary["energy_kwh"] == by_path.summary["energy_kwh"]
        assert other.summary["spread"] == by_path.summary["spread"]


def test_wide_frames_are_per_pack_on_a_tz_aware_index():
    result = socbal.simulate(SPEC)
    soc, power = result.soc(), result.power()
    assert list(soc.columns) == ["main", "p1"] and list(power.columns) == ["main", "p1"]
    assert str(soc.index.tz) == "UTC" and soc.index[0] == pd.Timestamp("2026-06-01 00:01", tz="UTC")
    assert len(soc) == 180 and soc.iloc[-1]["main"] == pytest.approx(result.summary["packs"][0]["final_soc_pct"])
    assert power.iloc[0].to_dict() == pytest.approx({"main": 600.0, "p1": 300.0})
    estimated = result.soc(estimated=True)
    assert estimated.index.equals(soc.index) and estimated.iloc[-1]["p1"] == pytest.approx(
        result.summary["packs"][1]["final_soc_estimated_pct"]
    )
    assert result.device["timestamp"].dt.tz is not None


def test_load_and_pv_series_replace_the_sections():
    index = pd.date_range("2026-06-01 02:00", periods=4 * 24, freq="15min", tz="Europe/Berlin")  # 00:00 UTC
    load = pd.Series(np.where(index.hour < 12, 400.0, 800.0), index=index)
    pv = pd.Series(100.0, index=index)
    result = socbal.simulate(SPEC, load=load, pv=pv)
    energy = result.summary["energy_kwh"]
    # the run covers 3 h from 00:00 UTC = 02:00-05:00 Berlin, all at 400 W
    assert energy["load"] == pytest.approx(0.4 * 3) and energy["pv"] == pytest.approx(0.1 * 3)
    naive = pd.Series(500.0, index=pd.date_range("2026-06-01", periods=24, freq="h"))
    assert socbal.simulate(SPEC, load=naive, tz="UTC").summary["energy_kwh"]["load"] == pytest.approx(1.5)
    with pytest.raises(InputError, match="load: the run from 2026-06-01 00:00:00\\+00:00 .* is not covered"):
        socbal.simulate(SPEC, load=naive[1:], tz="UTC")
    with pytest.raises(InputError, match="a pandas Series with a DatetimeIndex is needed, got list"):
        socbal.simulate(SPEC, load=[1, 2, 3])


def test_plot_gives_the_report_figures():
    import plotly.graph_objects as go

    result = socbal.simulate(SPEC)
    assert isinstance(result.plot("soc"), go.Figure)
    assert list(result.plot()) == ["soc", "spread", "power", "energy_flows"]  # outside IPython: the figures
    with pytest.raises(InputError, match="figure: value 'pie' is not allowed: one of soc, spread"):
        result.plot("pie")


def test_allocate_is_the_cli_contract():
    packs = [
        {"id": "main", "soc_pct": 80, "capacity_wh": 1920, "max_discharge_w": 1200, "max_charge_w": 1200},
        {"id": "p1", "soc_pct": 40, "capacity_wh": 1920, "max_discharge_w": 1200, "max_charge_w": 1200},
    ]
    out = socbal.allocate({"settings": {"backup_reserve_pct": 10}, "packs": packs, "request": {"discharge_w": 900}})
    assert [p["power_w"] for p in out["packs"]] == [600.0, 300.0]
    with pytest.raises(InputError, match=r"packs\[0\].soc_pct"):
        socbal.allocate({"packs": [{**packs[0], "soc_pct": 120}], "request": {"discharge_w": 1}})
    with pytest.raises(InputError, match="scenario: a path, a dict or a Scenario is needed, got int"):
        socbal.load_scenario(3)


def test_an_unknown_time_zone_is_one_input_error_not_a_traceback():
    with pytest.raises(InputError, match=r"^tz: value 'Mars/Olympus' is not allowed: must be an IANA time zone"):
        socbal.simulate(SPEC, tz="Mars/Olympus")
