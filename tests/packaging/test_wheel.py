"""The built wheel works outside a checkout: examples shipped inside, `socbal init` and `socbal simulate` run.

Builds the wheel from a copy of the source (``python -m build --no-isolation``: offline), installs it
with ``--no-deps`` into a fresh virtual environment that sees this interpreter's packages for the
dependencies, and runs the installed ``socbal`` script from an empty folder. About a minute
(the simulator compiles for the fresh install).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.wheel, pytest.mark.timeout(600)]


def _run(*command, cwd: Path, timeout_s: float = 400) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout_s, check=False)
    assert done.returncode == 0, f"{' '.join(map(str, command))}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed; returns its bin folder."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for name in ("src", "examples"):
        shutil.copytree(ROOT / name, source / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    _run(sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(work / "dist"), cwd=source)
    wheel = next((work / "dist").glob("socbal-*.whl"))
    venv.create(work / "venv", system_site_packages=True, with_pip=True)
    bin_dir = work / "venv" / "bin"
    _run(bin_dir / "python", "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel), cwd=work)
    return bin_dir


def test_the_installed_package_is_the_wheel_not_the_checkout(installed, tmp_path):
    where = _run(installed / "python", "-c", "import socbal; print(socbal.__file__)", cwd=tmp_path).stdout.strip()
    assert where.startswith(str(installed.parent)), where


def test_init_writes_the_shipped_examples_and_simulate_runs_one(installed, tmp_path):
    _run(installed / "socbal", "init", "ex", cwd=tmp_path)
    shipped = sorted(p.name for p in (tmp_path / "ex").glob("*.toml"))
    assert shipped == sorted(p.name for p in (ROOT / "examples").glob("*.toml"))
    _run(installed / "socbal", "-q", "simulate", "ex/spec_example.toml", "--out", "r", cwd=tmp_path)
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["scenario"] == "spec-example-80-40" and summary["spread"]["max_pct"] > 0
