"""Energy meters of the live runtime: kWh totals integrated from power readings, never decreasing.

Each flow (battery, grid) is a signed power, W; its positive and negative parts add to two
totals: the battery's ``battery_out`` (discharged, power > 0) and ``battery_in`` (charged),
the grid's ``grid_import`` (> 0) and ``grid_export``. A reading is held until the next one
(as the setpoints are, for one control period), but never across a gap longer than
``max_gap_s`` or an unknown reading: then nothing is counted for that interval.
"""

from __future__ import annotations

#: Flow -> (total for power > 0, total for power < 0).
FLOWS: dict[str, tuple[str, str]] = {"battery": ("battery_out", "battery_in"), "grid": ("grid_import", "grid_export")}
TOTALS: tuple[str, ...] = tuple(name for pair in FLOWS.values() for name in pair)
_WS_PER_KWH = 3.6e6


class EnergyMeter:
    """Totals in kWh (``totals``), started from ``totals_kwh`` (e.g. the persisted ones)."""

    def __init__(self, totals_kwh: dict[str, float], max_gap_s: float) -> None:
        self.totals: dict[str, float] = {name: float(totals_kwh[name]) for name in TOTALS if name in totals_kwh}
        self.max_gap_s = max_gap_s
        self._last: dict[str, tuple[float, float]] = {}  # flow -> (power W, monotonic s) of the reading held

    def update(self, now_s: float, powers_w: dict[str, float | None]) -> None:
        """Count the held readings up to ``now_s``, then hold these (``None``: unknown, nothing held).

        A flow seen for the first time starts its totals at 0.
        """
        for flow, (positive, negative) in FLOWS.items():
            held = self._last.pop(flow, None)
            if held is not None:
                power_w, since_s = held
                dt_s = now_s - since_s
                if 0.0 < dt_s <= self.max_gap_s and power_w != 0.0:
                    name = positive if power_w > 0.0 else negative
                    self.totals[name] += abs(power_w) * dt_s / _WS_PER_KWH
            power = powers_w.get(flow)
            if power is not None:
                self.totals.setdefault(positive, 0.0)
                self.totals.setdefault(negative, 0.0)
                self._last[flow] = (float(power), now_s)
