"""What a series or parallel simulation returns: per-step arrays and totals.

Sign convention: current and power are positive when energy leaves the packs
(discharging) and negative when they charge. Step arrays hold the average over
the step; ``soc_pct`` and ``time_s`` have one more row (the initial state).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Pack states at the end of a step (``TopologyResult.pack_state``).
PACK_ON_BUS = 0
PACK_EMPTY = 1  # at 0 % SOC: the BMS blocks discharge (charge is still allowed)
PACK_FULL = 2  # at 100 % SOC: the BMS blocks charge (discharge is still allowed)
PACK_TRIPPED = 3  # current exceeded max_current_a: disconnected for the rest of the run
PACK_AT_FLOOR = 4  # at the run's floor_soc_pct (> 0): discharge blocked as for an empty pack

PACK_STATE_TEXT = {
    PACK_ON_BUS: "on the bus",
    PACK_EMPTY: "empty: discharge blocked",
    PACK_FULL: "full: charge blocked",
    PACK_TRIPPED: "tripped on over-current",
    PACK_AT_FLOOR: "at the SOC floor: discharge blocked",
}


@dataclass(frozen=True, eq=False)
class TopologyResult:
    """One run of a series string or parallel bank over a load profile.

    Arrays (n = steps, p = packs):

    - ``time_s`` (n+1): time at the start of each step, then the end, s
    - ``soc_pct`` (n+1, p): SOC of each pack, %
    - ``pack_current_a`` (n, p): pack current, A (+ discharging)
    - ``bus_voltage_v`` (n): terminal voltage of the bank or string, V (NaN when nothing is connected)
    - ``requested_power_w`` (n): load asked of the bank, W (+ discharging); NaN for a current profile
    - ``requested_current_a`` (n): load asked of the bank, A (+ discharging); NaN for a power profile
    - ``served_current_a`` (n): current at the terminals, A (+ discharging)
    - ``served_power_w`` (n): power delivered at the terminals, W (+ discharging)
    - ``circulating_current_a`` (n): current that flows from pack to pack instead of
      to the load, A: ``(sum |I_i| - |sum I_i|) / 2``, i.e. the summed charging
      current of packs that charge while the bank discharges or rests (and the
      summed discharging current of packs that discharge while it charges); 0 in a string
    - ``loss_w`` (n): I^2 R heat in the packs, W
    - ``pack_state`` (n, p): ``PACK_*`` code at the end of each step; in a string one
      pack that is not on the bus stops the whole string
    """

    topology: str
    step_s: float
    time_s: np.ndarray
    soc_pct: np.ndarray
    pack_current_a: np.ndarray
    bus_voltage_v: np.ndarray
    requested_power_w: np.ndarray
    requested_current_a: np.ndarray
    served_current_a: np.ndarray
    served_power_w: np.ndarray
    circulating_current_a: np.ndarray
    loss_w: np.ndarray
    pack_state: np.ndarray
    time_to_first_stop_s: float  # first moment a pack left the bus or the string stopped; NaN: never
    first_stop_pack: int  # index of that pack, -1: none
    first_stop_reason: str  # PACK_STATE_TEXT of that stop, "": none

    def _total_wh(self, power_w: np.ndarray) -> float:
        return float(np.sum(power_w) * self.step_s / 3600.0)

    @property
    def energy_delivered_wh(self) -> float:
        """Energy delivered to the load while discharging, Wh (>= 0)."""
        return self._total_wh(np.clip(self.served_power_w, 0.0, None))

    @property
    def energy_absorbed_wh(self) -> float:
        """Energy taken in at the terminals while charging, Wh (>= 0)."""
        return self._total_wh(np.clip(-self.served_power_w, 0.0, None))

    @property
    def unserved_energy_wh(self) -> float:
        """Requested energy (either direction) the bank could not serve, Wh (>= 0); NaN for a current profile."""
        return self._total_wh(np.abs(self.requested_power_w - self.served_power_w))

    @property
    def unserved_charge_ah(self) -> float:
        """Requested charge (either direction) the bank could not carry, Ah (>= 0); NaN for a power profile."""
        return float(np.sum(np.abs(self.requested_current_a - self.served_current_a)) * self.step_s / 3600.0)

    @property
    def loss_wh(self) -> float:
        """I^2 R heat in the packs, Wh."""
        return self._total_wh(self.loss_w)

    @property
    def peak_circulating_current_a(self) -> float:
        """Largest step-average circulating current, A."""
        return float(np.max(self.circulating_current_a, initial=0.0))

    @property
    def max_spread_pct(self) -> float:
        """Largest SOC spread (max - min over packs) during the run, % points."""
        return float(np.max(np.ptp(self.soc_pct, axis=1)))
