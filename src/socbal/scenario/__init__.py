"""Scenarios: the validated description of a run (device, packs, EMS settings, profiles, run, fleet and studies).

The bottom layer under the device model, the simulator, fleets, studies and the live runtime:
it imports only validation helpers, the EMS settings and the profile specs.
"""

from socbal.profiles.grid import GridFileSpec, GridSpec
from socbal.scenario.fleet import FleetSpec
from socbal.scenario.models import (
    DEFAULT_DCDC_CURVE,
    DeviceSpec,
    PackPhysicsSpec,
    PackSpec,
    RunSpec,
    Scenario,
    load_scenario,
    scenario_from_dict,
)
from socbal.scenario.studies import CompareSpec, LifetimeSpec, SweepSpec, TariffSpec

__all__ = [
    "DEFAULT_DCDC_CURVE",
    "CompareSpec",
    "DeviceSpec",
    "FleetSpec",
    "GridFileSpec",
    "GridSpec",
    "LifetimeSpec",
    "PackPhysicsSpec",
    "PackSpec",
    "RunSpec",
    "Scenario",
    "SweepSpec",
    "TariffSpec",
    "load_scenario",
    "scenario_from_dict",
]
