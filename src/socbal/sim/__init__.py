"""The device simulator: dispatch, EMS, pack physics and SOC estimation stepped through time."""
