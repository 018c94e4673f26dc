"""Series, parallel and DC-DC compared on the same packs and the same battery demand (spec sections 4 and 5).

::

    from socbal.compare import compare_scenario
    from socbal.scenario import load_scenario

    result = compare_scenario(load_scenario("examples/compare_mixed.toml"))
    result.metrics        # one row per topology: energy delivered, losses, circulating current, spread, stops
    result.metric_table() # the spec's table with numbers: rows = metrics, columns = topologies
    result.save("results/compare-mixed-compare")

- :mod:`.demand`: the one battery power profile all three run (load minus PV, device limits).
- :mod:`.runs`: the three runs (:func:`socbal.topology.simulate_parallel`,
  :func:`socbal.topology.simulate_series`, :func:`socbal.sim.engine.simulate`) and their metrics.
- :mod:`.result`: :class:`CompareResult`, its DataFrames and files.
"""

from socbal.compare.demand import DEMAND_DEFINITION, battery_demand_w
from socbal.compare.result import COMPARE_FILES, METRIC_ROWS, NOTES, CompareResult, compare_scenario
from socbal.compare.runs import TOPOLOGIES, TOPOLOGY_LABELS, electrical_packs, run_metrics

__all__ = [
    "COMPARE_FILES",
    "CompareResult",
    "DEMAND_DEFINITION",
    "METRIC_ROWS",
    "NOTES",
    "TOPOLOGIES",
    "TOPOLOGY_LABELS",
    "battery_demand_w",
    "compare_scenario",
    "electrical_packs",
    "run_metrics",
]
