"""Column layout of the arrays the compiled engine fills, shared by the engine and the results.

Each recorded row aggregates ``steps_per_record`` steps. Energies are Wh within
the interval, SOCs are % (end of interval unless named otherwise), powers W.
"""

# Per pack and recorded interval: records[row, pack, column]
PACK_COLUMNS = (
    "soc_true_pct",  # true SOC at the end of the interval
    "soc_est_pct",  # SOC the EMS sees (estimator) at the end of the interval
    "soc_true_mean_pct",
    "soc_true_min_pct",
    "soc_true_max_pct",
    "power_w",  # mean bus-side power, + discharge / - charge
    "discharge_wh",  # bus-side energy delivered
    "charge_wh",  # bus-side energy taken
    "dcdc_loss_wh",  # DC-DC conversion loss
    "i2r_loss_wh",  # I^2 R heat in the pack
    "standby_wh",  # the pack's own standby draw (its BMS, about 2 W)
    "reserve_standby_s",  # time in standby at the backup reserve (not charging, not discharging)
    "main_unit_wh",  # the main unit's consumption drawn straight from this battery (main battery only: deep standby)
    "reason_code",  # the EMS's reason (socbal.ems.kernel.REASON_*) at the end of the interval
)

# Per recorded interval: device[row, column]
DEVICE_COLUMNS = (
    "load_wh",  # household demand
    "pv_wh",  # PV energy available after the PV input limit
    "pv_curtailed_wh",  # PV energy neither used nor stored
    "ac_output_wh",  # device AC output
    "export_wh",  # device output beyond the household load, into the grid
    "grid_import_wh",  # household load covered by the grid
    "grid_to_device_wh",  # AC charging and main-unit supply from the grid
    "unserved_wh",  # household load nobody covered (grid off)
    "main_unit_wh",  # main unit's own consumption
    "main_from_bus_wh",  # part of it fed from the bus (PV and the packs above the reserve), while operating
    "main_from_battery_wh",  # part of it drawn directly from the internal battery (deep standby)
    "battery_discharge_wh",  # bus-side, all packs
    "battery_charge_wh",  # bus-side, all packs
    "battery_unserved_wh",  # AC output the device was asked for but could not give (the grid or nobody covered it)
    "stopped_s",  # time the device could not operate: nothing could feed the main unit
    "grid_on_s",  # time with the grid available
    "spread_true_pct",  # max - min true SOC at the end of the interval
    "spread_est_pct",  # the same on estimated SOC
    "total_soc_true_pct",  # capacity-weighted true SOC at the end of the interval
)

PACK = {name: i for i, name in enumerate(PACK_COLUMNS)}
DEVICE = {name: i for i, name in enumerate(DEVICE_COLUMNS)}

#: Spread thresholds, % points, for "settles below": the time after which the spread stays below each until the end.
SPREAD_THRESHOLDS_PCT = (5.0, 3.0, 1.0)

# Whole-run statistics: stats[index]
STATS_COLUMNS = (
    "max_spread_true_pct",
    "max_spread_est_pct",
    "settled_below_5_s",  # start of the run's last stretch with the true spread below 5 points (NaN: it ends above)
    "settled_below_3_s",
    "settled_below_1_s",
    "first_reserve_time_s",  # first time any pack is held at the reserve
    "spread_at_first_reserve_pct",
)
STATS = {name: i for i, name in enumerate(STATS_COLUMNS)}
