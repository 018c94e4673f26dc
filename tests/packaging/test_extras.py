"""The install extras hold: the live runtime imports nothing from the sim, report, dask or lifetime extras."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Import names of what only the sim, report, dask and lifetime extras install.
NOT_IN_RUNTIME = ("plotly", "matplotlib", "pvlib", "pyarrow", "dask", "distributed", "demandlib", "rainflow", "blast")


def test_runtime_loads_its_config_and_modules_without_the_other_extras():
    blocked = "; ".join(f"sys.modules[{m!r}] = None" for m in NOT_IN_RUNTIME)  # import of a None entry fails
    code = (
        f"import sys; {blocked}\n"
        "from socbal.runtime.config import load_config\n"
        "import socbal.runtime.service, socbal.runtime.api, socbal.runtime.modbus, socbal.runtime.mqtt\n"
        "from typer.testing import CliRunner\nfrom socbal.cli import app\n"
        f"load_config({str(ROOT / 'examples' / 'runtime_modbus.toml')!r})\n"
        "assert CliRunner().invoke(app, ['run', '--help']).exit_code == 0\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]


def test_core_dependencies_leave_the_heavy_parts_to_extras():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = " ".join(project["dependencies"])
    assert not any(name in core for name in ("dask", "plotly", "matplotlib", "pvlib", "pyarrow", "httpx"))
    extras = project["optional-dependencies"]
    assert "socbal[all,test]" in extras["dev"] and "socbal[runtime,sim,report,dask,lifetime]" in extras["all"]
    assert any(d.startswith("httpx") for d in extras["runtime"]), "the vendor HTTP drivers need httpx at runtime"
