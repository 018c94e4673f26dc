"""Small simulated runs shared by the report tests (simulated once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from socbal.scenario import load_scenario
from socbal.sim.engine import simulate

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "spec_example.toml"


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
    import shutil

    from socbal.report import write_report

    folder = tmp_path_factory.mktemp("reported") / "spec"
    shutil.copytree(results_dir, folder)
    write_report(folder)
    return folder
