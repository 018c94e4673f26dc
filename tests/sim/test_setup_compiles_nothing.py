"""A run's set-up is plain Python: the first run compiles the loop and its helpers, nothing besides."""

from __future__ import annotations

from pathlib import Path

import numba.core.event as numba_event
import numpy as np

from socbal import jit
from socbal.device.params import PARAM_MAX_DISCHARGE_W, PARAM_RATED_CELL_W
from socbal.device.step import initial_state, step_scratch
from socbal.scenario import scenario_from_dict
from socbal.sim import engine, kernel
from socbal.tomlfile import read_toml

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "spec_example.toml"


class _Compiles(numba_event.Listener):
    """The names of the functions Numba compiles while it listens."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def on_start(self, event: numba_event.Event) -> None:
        self.names.append(event.data["dispatcher"].py_func.__qualname__)

    def on_end(self, event: numba_event.Event) -> None:
        pass


def test_the_set_up_of_a_run_compiles_no_function(monkeypatch):
    # The battery side at the rating, the latches, the cut-off flags and the first statistics are computed in
    # plain Python: a compiled set-up function (e.g. a Python twin of cell_side_w) would cost the first run a compile.
    spec = scenario_from_dict(read_toml(EXAMPLE, "scenario"), source=str(EXAMPLE), base_dir=EXAMPLE.parent)
    compiles = _Compiles()
    twins_called: list[str] = []  # compiled on first use: caught even where an earlier test compiled it already
    monkeypatch.setattr(
        jit._TwinKernel, "__call__", lambda self, *args: twins_called.append(self.__name__) or self.py_func(*args)
    )
    with numba_event.install_listener("numba:compile", compiles):
        inputs = engine.kernel_inputs(spec)
        state = initial_state(inputs.model, inputs.soc_true0_pct, inputs.soc_est0_pct)
        step_scratch(len(inputs.soc_true0_pct))
        kernel.empty_records(state, inputs.clock)
    assert compiles.names == [] and twins_called == []
    params = inputs.model.params
    assert np.all(params[:, PARAM_RATED_CELL_W] > params[:, PARAM_MAX_DISCHARGE_W])  # it was computed, with its losses
