"""Draw a home fleet's homes from a :class:`~socbal.home.fleetspec.HomeFleetSpec` with one numpy Generator.

Every draw is made for the scenario's full home (all its devices and packs) whatever the spreads and the number
of devices a home keeps, so the draws depend only on the seed and the fleet size: every runner, however it splits
the homes, gets the same homes, and changing one spread leaves the others' draws alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from socbal.home.fleetspec import HomeFleetSpec
from socbal.home.scenario import HomeScenario

#: Normal draws are cut at this many standard deviations.
CUT_STD = 3.0


@dataclass(frozen=True)
class HomeFleetDraw:
    """Per-home inputs, laid out for the scenario's full home (``pack`` = every device's packs side by side)."""

    n_devices: np.ndarray  # int64 [home]: it keeps its first n devices
    capacity_scale: np.ndarray  # [home, pack]: true (and believed) capacity relative to the scenario's
    soh_pct: np.ndarray  # [home, pack]
    soc0_pct: np.ndarray  # [home, pack]: initial true SOC
    load_scale: np.ndarray  # [home]
    pv_scale: np.ndarray  # [home]

    def chunk(self, start: int, stop: int) -> "HomeFleetDraw":
        """Homes ``start`` to ``stop - 1``."""
        fields = (self.n_devices, self.capacity_scale, self.soh_pct, self.soc0_pct, self.load_scale, self.pv_scale)
        return HomeFleetDraw(*(a[start:stop] for a in fields))


def draw_homes(scenario: HomeScenario, spec: HomeFleetSpec, homes: int, seed: int) -> HomeFleetDraw:
    """Draw ``homes`` homes around ``scenario``'s home."""
    rng = np.random.default_rng(seed)
    packs = [p for d in scenario.devices for p in d.all_packs]
    owner = np.repeat(np.arange(len(scenario.devices)), [len(d.all_packs) for d in scenario.devices])
    shape = (homes, len(packs))
    z_capacity = np.clip(rng.standard_normal(shape), -CUT_STD, CUT_STD)
    u_soh = rng.random(shape)
    u_soc = rng.random((homes, len(scenario.devices)))
    z_load = np.clip(rng.standard_normal(homes), -CUT_STD, CUT_STD)
    z_pv = np.clip(rng.standard_normal(homes), -CUT_STD, CUT_STD)
    u_count = rng.random(homes)

    scenario_soh = np.array([p.soh_pct for p in packs])
    soh = np.broadcast_to(scenario_soh, shape).copy()
    if spec.soh_pct is not None:
        soh = spec.soh_pct[0] + u_soh * (spec.soh_pct[1] - spec.soh_pct[0])
    capacity_scale = (1.0 + spec.capacity_spread_pct / 100.0 * z_capacity) * soh / scenario_soh
    soc0 = np.broadcast_to(np.array([p.soc_pct for p in packs]), shape).copy()
    if spec.initial_soc_pct is not None:
        per_device = spec.initial_soc_pct[0] + u_soc * (spec.initial_soc_pct[1] - spec.initial_soc_pct[0])
        soc0 = per_device[:, owner]
    low, high = spec.device_count if spec.device_count is not None else (len(scenario.devices), len(scenario.devices))
    n_devices = np.minimum(low + np.floor(u_count * (high - low + 1)), high).astype(np.int64)
    return HomeFleetDraw(
        n_devices=n_devices,
        capacity_scale=capacity_scale,
        soh_pct=soh,
        soc0_pct=soc0,
        load_scale=np.exp(spec.load_scale_sigma * z_load),
        pv_scale=np.exp(spec.pv_scale_sigma * z_pv),
    )
