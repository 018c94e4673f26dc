"""The Python API for notebooks and scripts: ``socbal.simulate``, ``socbal.load_scenario``, ``socbal.allocate``.

Everything here is also reachable from ``socbal`` itself; bad input raises
:class:`socbal.errors.InputError` with the same one-line messages the CLI prints.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from socbal.errors import InputError, describe_validation_error
from socbal.scenario import Scenario, scenario_from_dict
from socbal.scenario import load_scenario as _load_toml
from socbal.sim.results import SimulationResult

ScenarioLike = str | Path | Mapping[str, Any] | Scenario


class Result(SimulationResult):
    """A :class:`SimulationResult` with the report's figures at hand (``plot``).

    ``packs`` and ``device`` are the recorded tables (``timestamp``: end of each
    interval, time-zone aware); ``soc()`` and ``power()`` give one column per
    pack on a ``DatetimeIndex``; ``summary`` is the dict written to summary.json.
    """

    def figures(self) -> dict:
        """Every figure of the run's report, by name (plotly figures): soc, spread, power, energy_flows, …"""
        from socbal.report.figures import run_figures

        return run_figures(self)

    def plot(self, figure: str | None = None):
        """The report's main figures (SOC, spread, power, energy flows), shown inline in Jupyter.

        ``figure`` names one of :meth:`figures` and returns it instead. Outside
        IPython the main figures come back as a dict.
        """
        from socbal.report.build import MAIN_FIGURES

        figures = self.figures()
        if figure is not None:
            if figure not in figures:
                raise InputError(f"figure: value {figure!r} is not allowed: one of {', '.join(figures)}")
            return figures[figure]
        main = {name: figures[name] for name in MAIN_FIGURES if name in figures}  # those of the run's scale
        try:
            from IPython import get_ipython
            from IPython.display import display
        except ImportError:  # pragma: no cover - IPython comes with Jupyter
            return main
        if get_ipython() is None:
            return main
        for fig in main.values():
            display(fig)
        return None


def load_scenario(scenario: ScenarioLike, base_dir: str | Path | None = None) -> Scenario:
    """A validated :class:`Scenario` from a TOML path, a dict of the same schema, or a Scenario.

    Relative file paths in a dict resolve against ``base_dir`` (default: the
    current folder); in a TOML file, against the file's folder.
    """
    if isinstance(scenario, Scenario):
        return scenario
    if isinstance(scenario, (str, Path)):
        return _load_toml(scenario)
    if isinstance(scenario, Mapping):
        return scenario_from_dict(dict(scenario), base_dir=Path(base_dir) if base_dir is not None else None)
    raise InputError(f"scenario: a path, a dict or a Scenario is needed, got {type(scenario).__name__}")


def _zone(scenario: Scenario, tz: str | None) -> str:
    """The zone a naive run start is read in: ``tz``, else the zone of the user's load/PV data, else UTC."""
    if tz is not None:
        return tz
    for section in (scenario.load, scenario.pv):
        if getattr(section, "kind", "") in ("file", "series") and getattr(section, "tz", "UTC") != "UTC":
            return str(getattr(section, "tz"))
    return "UTC"


def simulate(
    scenario: ScenarioLike,
    *,
    load: pd.Series | None = None,
    pv: pd.Series | None = None,
    tz: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Result:
    """Simulate a scenario (path, dict or :class:`Scenario`) and return its :class:`Result`.

    ``load`` / ``pv``: a pandas Series of power in W on a DatetimeIndex, used
    instead of the scenario's section; it is read like a file's column (gaps
    reported and filled, irregular stamps averaged by time). A naive index, and
    a naive ``run.start``, are read in ``tz`` (default: the zone of the
    scenario's own load/PV file, else UTC), so every result table is time-zone aware.
    """
    from socbal.profiles.specs import SeriesLoadSpec, SeriesPvSpec
    from socbal.profiles.timeseries import known_zone
    from socbal.sim.engine import simulate as run_engine

    if tz is not None:
        try:
            known_zone(tz)
        except ValueError as err:
            raise InputError(f"tz: value {tz!r} is not allowed: {err}") from None
    spec = load_scenario(scenario)
    zone = _zone(spec, tz)
    update: dict[str, Any] = {}
    try:
        if load is not None:
            update["load"] = SeriesLoadSpec.of(load, tz=zone)
        if pv is not None:
            update["pv"] = SeriesPvSpec.of(pv, tz=zone)
    except ValidationError as err:
        raise InputError(describe_validation_error(err, "tz")) from None
    start = pd.Timestamp(spec.run.start)
    if start.tzinfo is None:
        update["run"] = spec.run.model_copy(update={"start": start.tz_localize(zone).to_pydatetime()})
    if update:
        spec = spec.model_copy(update=update)
    result = run_engine(spec, progress=progress)
    return Result(**{f.name: getattr(result, f.name) for f in fields(result)})


def allocate(request: Mapping[str, Any] | Any, explain: bool = False) -> dict:
    """One EMS decision, as ``socbal allocate`` gives it: packs, settings and a request in, setpoints out (a dict).

    ``request`` is a dict of the allocate JSON contract or an
    :class:`socbal.ems.models.AllocateInput`.
    """
    from socbal.ems.decision import decide
    from socbal.ems.models import AllocateInput

    if not isinstance(request, AllocateInput):
        try:
            request = AllocateInput.model_validate(dict(request))
        except ValidationError as err:
            raise InputError(describe_validation_error(err)) from None
        except (TypeError, ValueError):
            raise InputError(f"input: a dict of settings, packs and request is needed, got {type(request).__name__}") from None
    return decide(request).to_contract(explain=explain)
