"""A device as plain arrays for the compiled code: one builder shared by the simulator, the fleet and the emulator.

``DeviceModel`` bundles the pack parameter matrix (rows = packs, the main unit's battery first;
columns named ``PARAM_*``), the padded DC-DC curves, the EMS settings vector (``EMS_*``) and the
device settings vector (``DEV_*``). Fleets vary the matrix per device, so it stays one matrix
with named columns rather than one array per parameter.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from socbal.device.dispatch import MODE_CODES
from socbal.device.physics import cell_side_w, curve_slopes, i2r_coefficient_per_w, inverse_rating_per_w
from socbal.ems.decision import priority_ranks
from socbal.ems.kernel import STRATEGY_CODES
from socbal.ems.models import Settings, prioritises_low_packs
from socbal.jit import python_function
from socbal.scenario import DeviceSpec, PackSpec

# Columns of the pack parameter matrix.
PARAM_CAPACITY_WH = 0  # true usable capacity (nameplate x SOH): what the cells hold
PARAM_MAX_DISCHARGE_W = 1  # DC-DC discharge rating
PARAM_MAX_CHARGE_W = 2  # DC-DC charge rating
PARAM_STANDBY_W = 3  # the pack's own standby draw (its BMS)
PARAM_RESISTANCE_OHM = 4
PARAM_VOLTAGE_V = 5
PARAM_SENSOR_OFFSET_W = 6
PARAM_SENSOR_GAIN_ERROR = 7
PARAM_SENSOR_DEADBAND_W = 8
PARAM_BELIEVED_CAPACITY_WH = 9  # usable capacity the BMS and the EMS believe (SOC estimate, weights)
PARAM_RATED_CELL_W = 10  # battery-side power at rated discharge, W (computed once)
PARAM_SOC_PER_WH = 11  # 100 / true capacity: % SOC per Wh in the cells (computed once: no division per step)
PARAM_EST_SOC_PER_WH = 12  # 100 / believed capacity: % estimated SOC per Wh of the estimate (computed once)
PARAM_BELIEVED_PER_TRUE = 13  # believed / true capacity (computed once)
PARAM_INV_MAX_DISCHARGE_PER_W = 14  # 1 / discharge rating, 1/W (0 for no rating; computed once)
PARAM_INV_MAX_CHARGE_PER_W = 15  # 1 / charge rating, 1/W (0 for no rating; computed once)
PARAM_I2R_PER_W2 = 16  # resistance / voltage^2, 1/W: I^2 R loss per squared cell power (computed once)
N_PARAMS = 17

# Slots of the device settings vector.
DEV_MODE = 0
DEV_FIXED_OUTPUT_W = 1
DEV_AC_OUTPUT_LIMIT_W = 2
DEV_PV_INPUT_LIMIT_W = 3
DEV_AC_CHARGE_LIMIT_W = 4
DEV_AUX_MODULE = 5
DEV_STANDBY_W = 6
DEV_ACTIVE_W = 7
DEV_BACKUP_BAND_PCT = 8
N_DEVICE = 9

# Slots of the EMS settings vector.
EMS_RESERVE_PCT = 0
EMS_HYSTERESIS_PCT = 1
EMS_STRATEGY = 2
EMS_DROOP_EXPONENT = 3
EMS_LOW_PACKS_FIRST = 4
EMS_MIN_MODULE_LOAD_PCT = 5
N_EMS = 6


class DeviceModel(NamedTuple):
    """One device's parameters as the compiled code reads them."""

    params: np.ndarray  # [pack, PARAM_*]
    curve_load: np.ndarray  # [pack, point]: DC-DC load share 0-1, padded past the curve's end
    curve_eff: np.ndarray  # [pack, point]: DC-DC efficiency 0-1
    curve_slope: np.ndarray  # [pack, point]: efficiency per load share of each segment (socbal.device.physics.curve_slopes)
    priority_rank: np.ndarray  # [pack]: order of the priority strategy, 0 = first
    ems: np.ndarray  # [EMS_*]
    device: np.ndarray  # [DEV_*]


def pack_matrix(packs: list[PackSpec]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parameter matrix (rows = packs, columns ``PARAM_*``) and padded DC-DC curves ``(load, efficiency)``."""
    params = np.zeros((len(packs), N_PARAMS))
    for i, p in enumerate(packs):
        params[i, PARAM_CAPACITY_WH] = p.usable_capacity_wh
        params[i, PARAM_BELIEVED_CAPACITY_WH] = p.ems_capacity_wh
        params[i, PARAM_MAX_DISCHARGE_W] = p.max_discharge_w
        params[i, PARAM_MAX_CHARGE_W] = p.max_charge_w
        params[i, PARAM_STANDBY_W] = p.standby_w
        params[i, PARAM_RESISTANCE_OHM] = p.internal_resistance_ohm
        params[i, PARAM_VOLTAGE_V] = p.nominal_voltage_v
        params[i, PARAM_SENSOR_OFFSET_W] = p.sensor_offset_w
        params[i, PARAM_SENSOR_GAIN_ERROR] = p.sensor_gain_error
        params[i, PARAM_SENSOR_DEADBAND_W] = p.sensor_deadband_w
    width = max(len(p.dcdc_curve) for p in packs)
    curve_load = np.zeros((len(packs), width))
    curve_eff = np.zeros((len(packs), width))
    for i, p in enumerate(packs):
        loads = [x for x, _ in p.dcdc_curve]
        effs = [y for _, y in p.dcdc_curve]
        pad = width - len(loads)  # extend past the curve's end, holding its last efficiency
        curve_load[i] = loads + [loads[-1] + k for k in range(1, pad + 1)]
        curve_eff[i] = effs + [effs[-1]] * pad
    refresh_derived(params, curve_load, curve_eff)
    return params, curve_load, curve_eff


def refresh_derived(params: np.ndarray, curve_load: np.ndarray, curve_eff: np.ndarray) -> None:
    """Fill the columns computed from the others (``PARAM_RATED_CELL_W`` and the reciprocals the loop multiplies
    by instead of dividing) of every row of ``params`` (``[..., pack, PARAM_*]``) in place."""
    flat = params.reshape(-1, N_PARAMS)
    flat[:, PARAM_INV_MAX_DISCHARGE_PER_W] = inverse_rating_per_w(flat[:, PARAM_MAX_DISCHARGE_W])
    flat[:, PARAM_INV_MAX_CHARGE_PER_W] = inverse_rating_per_w(flat[:, PARAM_MAX_CHARGE_W])
    flat[:, PARAM_I2R_PER_W2] = i2r_coefficient_per_w(flat[:, PARAM_RESISTANCE_OHM], flat[:, PARAM_VOLTAGE_V])
    slope = curve_slopes(curve_load, curve_eff)
    at_rating = python_function(cell_side_w)  # plain Python for the set-up (compiles nothing), the loop's numbers
    n_packs = curve_load.shape[0]
    for row in range(flat.shape[0]):
        i = row % n_packs
        flat[row, PARAM_RATED_CELL_W], _ = at_rating(
            flat[row, PARAM_MAX_DISCHARGE_W], flat[row, PARAM_INV_MAX_DISCHARGE_PER_W], curve_load[i], curve_eff[i], slope[i],
            flat[row, PARAM_I2R_PER_W2],
        )  # fmt: skip
    flat[:, PARAM_SOC_PER_WH] = 100.0 / flat[:, PARAM_CAPACITY_WH]
    flat[:, PARAM_EST_SOC_PER_WH] = 100.0 / flat[:, PARAM_BELIEVED_CAPACITY_WH]
    flat[:, PARAM_BELIEVED_PER_TRUE] = flat[:, PARAM_BELIEVED_CAPACITY_WH] / flat[:, PARAM_CAPACITY_WH]


def ems_vector(settings: Settings) -> np.ndarray:
    """The EMS settings as the ``EMS_*`` vector."""
    ems = np.zeros(N_EMS)
    ems[EMS_RESERVE_PCT] = settings.backup_reserve_pct
    ems[EMS_HYSTERESIS_PCT] = settings.reserve_hysteresis_pct
    ems[EMS_STRATEGY] = STRATEGY_CODES[settings.strategy]
    ems[EMS_DROOP_EXPONENT] = settings.droop_exponent
    ems[EMS_LOW_PACKS_FIRST] = float(prioritises_low_packs(settings.ems_version))
    ems[EMS_MIN_MODULE_LOAD_PCT] = settings.min_module_load_pct
    return ems


def device_vector(spec: DeviceSpec, settings: Settings) -> np.ndarray:
    """The device settings as the ``DEV_*`` vector."""
    device = np.zeros(N_DEVICE)
    device[DEV_MODE] = MODE_CODES[spec.mode]
    device[DEV_FIXED_OUTPUT_W] = spec.fixed_output_w
    device[DEV_AC_OUTPUT_LIMIT_W] = spec.ac_output_limit_w
    device[DEV_PV_INPUT_LIMIT_W] = spec.pv_input_limit_w
    device[DEV_AC_CHARGE_LIMIT_W] = spec.ac_charge_limit_w
    device[DEV_AUX_MODULE] = float(spec.aux_power_module)
    device[DEV_STANDBY_W] = spec.standby_w
    device[DEV_ACTIVE_W] = spec.active_w
    device[DEV_BACKUP_BAND_PCT] = settings.backup_band_pct
    return device


def device_model(packs: list[PackSpec], spec: DeviceSpec, settings: Settings) -> DeviceModel:
    """The arrays of one device: its packs (main unit's battery first), its settings and its EMS settings."""
    params, curve_load, curve_eff = pack_matrix(packs)
    ranks = priority_ranks([p.id for p in packs], settings)
    slope = curve_slopes(curve_load, curve_eff)
    return DeviceModel(params, curve_load, curve_eff, slope, ranks, ems_vector(settings), device_vector(spec, settings))
