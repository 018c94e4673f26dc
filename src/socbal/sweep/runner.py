"""Run a sizing study's combinations over this machine's cores (or a Dask cluster) and collect one table.

The fleet kernel runs many devices of one shape in one compiled loop; a sweep's combinations
differ in pack count (the arrays' shape), so each runs as its own simulation, one per process.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pandas as pd

from socbal.errors import InputError
from socbal.resultfiles import save_results
from socbal.scenario import Scenario, TariffSpec
from socbal.sweep.cases import Case, sweep_cases
from socbal.sweep.metrics import case_metrics, marginal_gains

#: Files a sweep results folder holds.
SWEEP_FILES = ("sweep.parquet", "summary.json", "scenario.json")


@dataclass
class SweepResult:
    """One row per combination (``table``) and the study's settings (``summary``)."""

    scenario: Scenario
    table: pd.DataFrame
    summary: dict

    def save(self, out_dir: str | Path) -> Path:
        """Write ``sweep.parquet``, ``summary.json`` and ``scenario.json``, each atomically."""
        return save_results(out_dir, {"sweep": self.table}, self.summary, self.scenario)


def run_case(scenario: Scenario, tariff: TariffSpec | None) -> dict[str, float]:
    """Simulate one combination and return its metrics (runs in a worker process)."""
    from socbal.sim.engine import simulate

    return case_metrics(simulate(scenario), tariff)


def _row(case: Case, metrics: dict[str, float]) -> dict:
    return {"packs": case.packs, "pv_kwp": case.pv_kwp, "strategy": case.strategy, **metrics}


def _pv_kwp(scenario: Scenario) -> float | None:
    return getattr(scenario.pv, "kwp", None)


def run_sweep(
    scenario: Scenario,
    packs: list[int] | None = None,
    pv_kwp: list[float] | None = None,
    strategies: list[str] | None = None,
    pack_price: float | None = None,
    workers: Optional[int] = None,
    dask: bool = False,
    scheduler: Optional[str] = None,
    progress: Callable[[int, int], None] | None = None,
) -> SweepResult:
    """Every combination of :func:`sweep_cases`, simulated; ``progress(done, total)`` after each.

    Runs over ``workers`` processes (default: the cores), or with ``dask`` on a LocalCluster,
    or on the Dask scheduler at ``scheduler``. ``pack_price`` (default ``[sweep] pack_price``)
    gives the payback per added pack when the scenario has a ``[tariff]``.
    """
    if pack_price is not None and not (math.isfinite(pack_price) and pack_price >= 0):
        raise InputError(f"--pack-price: value {pack_price:g} is not allowed: must be a number >= 0")
    cases = sweep_cases(scenario, packs, pv_kwp, strategies)
    tariff = scenario.tariff
    price = pack_price if pack_price is not None else (scenario.sweep.pack_price if scenario.sweep else None)
    if price is not None and tariff is None:  # a payback needs money saved: without prices it was dropped silently
        where = "--pack-price" if pack_price is not None else "sweep.pack_price"
        raise InputError(
            f"{where}: value {price:g} needs a [tariff] section (import and feed-in prices) to price the energy saved; "
            "add one, or leave the pack price out"
        )
    rows: list[dict] = []
    report = progress or (lambda done, total: None)
    report(0, len(cases))
    if dask or scheduler is not None:
        from dask.distributed import Client, LocalCluster
        from dask.distributed import as_completed as completed

        with Client(scheduler) if scheduler else Client(LocalCluster(n_workers=workers or 2, threads_per_worker=1)) as client:
            futures = {client.submit(run_case, c.scenario, tariff, pure=False): c for c in cases}
            for future in completed(list(futures)):
                rows.append(_row(futures[future], future.result()))
                report(len(rows), len(cases))
    else:
        n = max(1, min(workers or os.cpu_count() or 1, len(cases)))
        with ProcessPoolExecutor(max_workers=n) as pool:
            running = {pool.submit(run_case, c.scenario, tariff): c for c in cases}
            for future in as_completed(running):
                rows.append(_row(running[future], future.result()))
                report(len(rows), len(cases))
    table = pd.DataFrame(rows)
    if table["pv_kwp"].isna().all():
        table["pv_kwp"] = _pv_kwp(scenario)
    table = marginal_gains(table, price)
    summary = {
        "scenario": scenario.name,
        "combinations": len(cases),
        "horizon_h": scenario.run.horizon_h,
        "step_s": scenario.run.step_s,
        "pack_price": price,
        "currency": tariff.currency if tariff else None,
        "tariff": tariff.model_dump(mode="json") if tariff else None,
    }
    return SweepResult(scenario=scenario, table=table, summary=summary)
