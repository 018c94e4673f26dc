"""socbal: SOC-balancing energy management for storage devices with one DC-DC module per battery pack.

The public API, importable from ``socbal`` itself (everything else is internal
and may change between versions)::

    import socbal
    scenario = socbal.load_scenario("examples/spec_example.toml")   # a path, a dict or a Scenario
    result = socbal.simulate(scenario, load=my_load_w)              # pandas Series in W, optional
    result.soc(); result.power(); result.summary; result.plot()
    decision = socbal.allocate({"settings": ..., "packs": [...], "request": {...}})

Names are imported on first use (module ``__getattr__``), so ``import socbal``
loads neither pandas nor numba.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Numba's error messages as plain text (read when numba is first imported): highlighting them starts and stops
# colorama around each one, and a first compile builds and drops thousands (failed overload matches), 50 us each.
os.environ.setdefault("NUMBA_DISABLE_ERROR_MESSAGE_HIGHLIGHTING", "1")

#: Public name -> module that defines it.
_EXPORTS = {
    "simulate": "socbal.api",
    "load_scenario": "socbal.api",
    "allocate": "socbal.api",
    "Result": "socbal.api",
    "Scenario": "socbal.scenario",
    "SimulationResult": "socbal.sim.results",
    "FleetResult": "socbal.fleet.results",
    "CompareResult": "socbal.compare.result",
    "LifetimeStudy": "socbal.lifetime.study",
    "InputError": "socbal.errors",
    "AllocateInput": "socbal.ems.models",
    "PackState": "socbal.ems.models",
    "Request": "socbal.ems.models",
    "Settings": "socbal.ems.models",
    "Decision": "socbal.ems.decision",
    "PackDecision": "socbal.ems.decision",
    "decide": "socbal.ems.decision",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from socbal.api import Result, allocate, load_scenario, simulate  # noqa: F401
    from socbal.compare.result import CompareResult  # noqa: F401
    from socbal.ems.decision import Decision, PackDecision, decide  # noqa: F401
    from socbal.ems.models import AllocateInput, PackState, Request, Settings  # noqa: F401
    from socbal.errors import InputError  # noqa: F401
    from socbal.fleet.results import FleetResult  # noqa: F401
    from socbal.lifetime.study import LifetimeStudy  # noqa: F401
    from socbal.scenario import Scenario  # noqa: F401
    from socbal.sim.results import SimulationResult  # noqa: F401


def __getattr__(name: str) -> Any:
    """Import a public name on first use."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'socbal' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
