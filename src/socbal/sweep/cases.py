"""The combinations of a sizing study, each as a validated scenario."""

from __future__ import annotations

import itertools
import logging
import math
from dataclasses import dataclass

from socbal.ems.models import STRATEGY_NAMES
from socbal.errors import InputError
from socbal.scenario import PackSpec, Scenario, scenario_from_dict
from socbal.scenario.studies import MAX_SWEEP_PACKS as MAX_PACKS

log = logging.getLogger("socbal.sweep")

#: A run shorter than this, h, is scaled to a year with a warning (initial charge counted as free, no seasons).
YEAR_H = 8760.0


@dataclass(frozen=True)
class Case:
    """One combination: ``packs`` expansion packs, PV of ``pv_kwp`` (None: the scenario's own PV), ``strategy``."""

    packs: int
    pv_kwp: float | None
    strategy: str
    scenario: Scenario


def _packs(scenario: Scenario, n: int) -> list[PackSpec]:
    """The first ``n`` expansion packs: the scenario's own, then copies of its last (or a default pack) as ``added-K``."""
    own = list(scenario.packs[:n])
    template = scenario.packs[-1] if scenario.packs else PackSpec(id="added-1")
    own += [template.model_copy(update={"id": f"added-{k + 1}"}) for k in range(n - len(own))]
    return own


def _variant(scenario: Scenario, packs: int, pv_kwp: float | None, strategy: str) -> Scenario:
    """The scenario with ``packs`` expansion packs, the PV scaled to ``pv_kwp`` and ``strategy``, validated again."""
    raw = scenario.model_dump(mode="python")
    raw["packs"] = [p.model_dump(mode="python") for p in _packs(scenario, packs)]
    raw["settings"]["strategy"] = strategy
    if pv_kwp is not None:
        raw["pv"]["kwp"] = pv_kwp
    raw["name"] = f"{scenario.name}-{packs}p-{pv_kwp if pv_kwp is not None else 'pv'}kwp-{strategy}"
    raw["sweep"] = raw["fleet"] = None
    return scenario_from_dict(raw, source=f"sweep case {raw['name']}")


def sweep_cases(
    scenario: Scenario, packs: list[int] | None = None, pv_kwp: list[float] | None = None, strategies: list[str] | None = None
) -> list[Case]:
    """Every combination; unset lists come from the scenario's ``[sweep]`` section, else from the scenario itself.

    Raises :class:`InputError` naming the option and the value when a combination is not allowed.
    """
    for option, given_list in (("--packs", packs), ("--pv-kwp", pv_kwp), ("--strategy", strategies)):
        if given_list is not None and not given_list:
            raise InputError(f"{option}: the range or list is empty: give e.g. 0..3 (low..high), 0,1,3 or one value")
    sweep = scenario.sweep
    packs = packs or (sweep.packs if sweep and sweep.packs else [len(scenario.packs)])
    given = pv_kwp or (sweep.pv_kwp if sweep and sweep.pv_kwp else None)
    kwps: list[float | None] = list(given) if given else [None]  # None: the scenario's own PV
    names: list[str] = list(strategies or (sweep.strategies if sweep and sweep.strategies else [scenario.settings.strategy]))
    bad = [n for n in packs if not 0 <= n <= MAX_PACKS]
    if bad:
        raise InputError(f"--packs: value {bad[0]} is not allowed: must be 0..{MAX_PACKS} expansion packs")
    unknown = [s for s in names if s not in STRATEGY_NAMES]
    if unknown:
        raise InputError(f"--strategy: value {unknown[0]!r} is not allowed: one of {', '.join(STRATEGY_NAMES)}")
    if any(k is not None for k in kwps):
        if not hasattr(scenario.pv, "kwp"):
            raise InputError(
                f'--pv-kwp: the scenario\'s [pv] kind {getattr(scenario.pv, "kind", "?")!r} has no kwp; use kind = "pvlib"'
            )
        if any(k is not None and not (math.isfinite(k) and k > 0) for k in kwps):
            raise InputError(f"--pv-kwp: values {kwps} are not allowed: each must be a number > 0 kWp")
    if scenario.run.horizon_h < YEAR_H:
        log.warning(
            "the scenario runs %g h, scaled to a year: the added packs' initial charge counts as free energy and the "
            "seasons are missed; for sizing, simulate a year (run.horizon_h = 8760)",
            scenario.run.horizon_h,
        )
    return [
        Case(n, kwp, strategy, _variant(scenario, n, kwp, strategy))
        for strategy, kwp, n in itertools.product(dict.fromkeys(names), dict.fromkeys(kwps), sorted(set(packs)))
    ]
