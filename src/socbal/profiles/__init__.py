"""Input profiles for the simulator: PV, household load and the user's own time series (W, regular index)."""
