"""Draw a fleet's devices from a :class:`FleetSpec` with one numpy Generator (plain arrays out).

The draws depend only on the seed and the fleet size, never on how the fleet is
later split over cores or workers, so every runner gives the same devices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from socbal.device import params as kernel
from socbal.device.params import refresh_derived
from socbal.scenario import FleetSpec
from socbal.sim.engine import KernelInputs

#: Normal draws are cut at this many standard deviations.
CUT_STD = 3.0


@dataclass(frozen=True)
class FleetDraw:
    """Per-device inputs of a fleet: ``[device, pack, ...]`` arrays and a load scale per device."""

    params: np.ndarray  # [device, pack, PARAM_*] (socbal.device.params)
    soh_pct: np.ndarray  # [device, pack]
    soc_true0_pct: np.ndarray  # [device, pack]
    soc_est0_pct: np.ndarray  # [device, pack]
    load_scale: np.ndarray  # [device], multiplies the household load

    def chunk(self, start: int, stop: int) -> "FleetDraw":
        """Devices ``start`` to ``stop - 1``."""
        return FleetDraw(
            *(a[start:stop] for a in (self.params, self.soh_pct, self.soc_true0_pct, self.soc_est0_pct, self.load_scale))
        )


def draw_fleet(base: KernelInputs, packs: list, spec: FleetSpec, devices: int, seed: int) -> FleetDraw:
    """Draw ``devices`` devices around the scenario's device (``base``, ``packs`` = its PackSpecs)."""
    rng = np.random.default_rng(seed)
    shape = (devices, len(packs))
    # Every draw is made whatever the spreads, so changing one spread leaves the others' draws alone.
    z_capacity = np.clip(rng.standard_normal(shape), -CUT_STD, CUT_STD)
    z_resistance = np.clip(rng.standard_normal(shape), -CUT_STD, CUT_STD)
    old = rng.random(shape) < spec.old_pack_share
    u_soh = rng.random(shape)
    z_offset = np.clip(rng.standard_normal(shape), -CUT_STD, CUT_STD)
    z_gain = np.clip(rng.standard_normal(shape), -CUT_STD, CUT_STD)
    z_estimate = np.clip(rng.standard_normal(shape), -CUT_STD, CUT_STD)
    u_soc = rng.random(shape)
    z_load = np.clip(rng.standard_normal(devices), -CUT_STD, CUT_STD)

    nominal_wh = np.array([p.capacity_wh for p in packs])
    soh = np.broadcast_to(np.array([p.soh_pct for p in packs]), shape).copy()
    if spec.new_soh_pct is not None:
        soh = spec.new_soh_pct[0] + u_soh * (spec.new_soh_pct[1] - spec.new_soh_pct[0])
    soh[old] = (spec.old_soh_pct[0] + u_soh * (spec.old_soh_pct[1] - spec.old_soh_pct[0]))[old]

    base_params = base.model.params
    params = np.repeat(base_params[np.newaxis], devices, axis=0)
    params[:, :, kernel.PARAM_CAPACITY_WH] = nominal_wh * (1.0 + spec.capacity_spread_pct / 100.0 * z_capacity) * soh / 100.0
    # The BMS believes what it believed of the scenario's pack, scaled with the drawn capacity.
    believed_share = base_params[:, kernel.PARAM_BELIEVED_CAPACITY_WH] / base_params[:, kernel.PARAM_CAPACITY_WH]
    params[:, :, kernel.PARAM_BELIEVED_CAPACITY_WH] = params[:, :, kernel.PARAM_CAPACITY_WH] * believed_share
    params[:, :, kernel.PARAM_RESISTANCE_OHM] *= 1.0 + spec.resistance_spread_pct / 100.0 * z_resistance
    params[:, :, kernel.PARAM_SENSOR_OFFSET_W] = np.clip(
        params[:, :, kernel.PARAM_SENSOR_OFFSET_W] + spec.sensor_offset_std_w * z_offset, -100.0, 100.0
    )
    params[:, :, kernel.PARAM_SENSOR_GAIN_ERROR] = np.clip(
        params[:, :, kernel.PARAM_SENSOR_GAIN_ERROR] + spec.sensor_gain_error_std * z_gain, -0.2, 0.2
    )

    refresh_derived(params, base.model.curve_load, base.model.curve_eff)  # capacities and resistances changed

    soc_true = np.broadcast_to(base.soc_true0_pct, shape).copy()
    if spec.initial_soc_pct is not None:
        soc_true = spec.initial_soc_pct[0] + u_soc * (spec.initial_soc_pct[1] - spec.initial_soc_pct[0])
    estimate_error = np.array([p.soc_estimate_error_pct for p in packs]) + spec.soc_estimate_error_std_pct * z_estimate
    soc_est = np.clip(soc_true + estimate_error, 0.0, 100.0)
    load_scale = np.exp(spec.load_scale_sigma * z_load)
    return FleetDraw(params=params, soh_pct=soh, soc_true0_pct=soc_true, soc_est0_pct=soc_est, load_scale=load_scale)
