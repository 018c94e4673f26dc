"""Small simulated runs shared by the report tests (simulated once per session)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from socbal.scenario import load_scenario
from socbal.sim.engine import simulate

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "spec_example.toml"


def _reported_copy(results: Path, folder: Path, write: Callable[[Path], object]) -> Path:
    """A copy of ``results`` at ``folder`` with its report written there by ``write(folder)``."""
    shutil.copytree(results, folder)
    write(folder)
    return folder


def _run(strategy: str):
    scenario = load_scenario(EXAMPLE)
    scenario = scenario.model_copy(
        update={
            "name": f"spec-example-{strategy}",
            "settings": scenario.settings.model_copy(update={"strategy": strategy}),
        }
    )
    return simulate(scenario)


@pytest.fixture(scope="session")
def result():
    """The spec example (two packs at 80 % and 40 %, 900 W load, 3 h) with the spec's strategy."""
    return _run("spec")


@pytest.fixture(scope="session")
def result_equal():
    """The same device with equal shares (for comparisons)."""
    return _run("equal")


@pytest.fixture(scope="session")
def results_dir(result, tmp_path_factory) -> Path:
    """A results folder as ``socbal simulate --out`` writes it."""
    return result.save(tmp_path_factory.mktemp("results") / "spec")


@pytest.fixture(scope="session")
def report_dir(results_dir, tmp_path_factory) -> Path:
    """A copy of the results folder with its report written (HTML and PNGs)."""
    from socbal.report import write_report

    return _reported_copy(results_dir, tmp_path_factory.mktemp("reported") / "spec", write_report)


LIFETIME = EXAMPLE.parent / "lifetime.toml"


@pytest.fixture(scope="session")
def year_dir(tmp_path_factory) -> Path:
    """examples/lifetime.toml's device for a year, recorded every 15 min, at a coarse 900 s step (fast), saved."""
    scenario = load_scenario(LIFETIME)
    run = type(scenario.run).model_validate({**scenario.run.model_dump(), "step_s": 900.0})
    scenario = scenario.model_copy(update={"run": run})
    return simulate(scenario).save(tmp_path_factory.mktemp("year") / "year")


@pytest.fixture(scope="session")
def year_report(year_dir) -> Path:
    """The one-year report (HTML only)."""
    from socbal.report import write_report

    html, _ = write_report(year_dir, png=False)
    return html


HOME_EXAMPLE = EXAMPLE.parent / "home_weakest_pack.toml"


@pytest.fixture(scope="session")
def home_dir(tmp_path_factory) -> Path:
    """examples/home_weakest_pack.toml (two devices, one with a pack at its floor; 30 recorded intervals), saved."""
    from socbal.home.engine import simulate_home
    from socbal.home.scenario import home_scenario_from_dict
    from socbal.tomlfile import read_toml

    scenario = home_scenario_from_dict(read_toml(HOME_EXAMPLE, "scenario"), base_dir=HOME_EXAMPLE.parent)
    return simulate_home(scenario).save(tmp_path_factory.mktemp("home") / "home")


@pytest.fixture(scope="session")
def home_report_dir(home_dir, tmp_path_factory) -> Path:
    """A copy of the home results folder with its report written (HTML and PNGs), as socbal report writes it."""
    from socbal.report import write_folder_report

    return _reported_copy(home_dir, tmp_path_factory.mktemp("home-reported") / "home", write_folder_report)
