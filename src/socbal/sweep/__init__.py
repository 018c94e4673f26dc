"""Sizing studies (``socbal sweep``): every combination of pack count, PV size and strategy, simulated and compared.

Answers "should I add a pack?": per combination the grid import, self-sufficiency, losses and
cycles per pack, and the marginal gain of each added pack (kWh a year saved per kWh of storage
added), in money with a ``[tariff]``, and a simple payback per added pack.
"""

from socbal.sweep.cases import Case, sweep_cases
from socbal.sweep.metrics import case_metrics, marginal_gains
from socbal.sweep.runner import SWEEP_FILES, SweepResult, run_sweep

__all__ = ["SWEEP_FILES", "Case", "SweepResult", "case_metrics", "marginal_gains", "run_sweep", "sweep_cases"]
