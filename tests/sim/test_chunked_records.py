"""The chunked run (what ``socbal simulate`` does for its progress bar) records bit for bit what one call records."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socbal.scenario import scenario_from_dict
from socbal.sim import engine


def _inputs(record_every_s: float) -> engine.KernelInputs:
    """Main unit + 2 packs with sensor errors, PV, a household load and an outage: every branch of the loop runs."""
    return engine.kernel_inputs(
        scenario_from_dict(
            {
                "run": {"step_s": 30, "horizon_h": 30, "record_every_s": record_every_s},
                "main": {"id": "main", "soc_pct": 35, "sensor_offset_w": 1.0, "sensor_deadband_w": 1.0},
                "packs": [
                    {"id": "p1", "soc_pct": 12, "sensor_gain_error": 0.01},
                    {"id": "p2", "soc_pct": 90, "internal_resistance_ohm": 0.04},
                ],
                "load": {"kind": "synthetic-household", "daily_kwh": 8},
                "pv": {"kind": "synthetic-clear-sky", "peak_w": 1500},
                "grid": {"outages_h": [[5.0, 9.0]]},
            }
        )
    )


@settings(max_examples=10, deadline=None)
@given(chunk_pack_steps=st.integers(1, 5000), record_every_steps=st.sampled_from([1, 7, 30, 3600]))
def test_chunked_run_records_exactly_what_the_single_run_records(chunk_pack_steps, record_every_steps):
    inputs = _inputs(30.0 * record_every_steps)
    whole = engine.run_loop(inputs)
    with pytest.MonkeyPatch.context() as patch:  # chunks that do not line up with the record rows
        patch.setattr(engine, "PROGRESS_CHUNK_PACK_STEPS", chunk_pack_steps)
        done = []
        chunked = engine.run_loop(inputs, progress=lambda k, n: done.append(k))
    assert done[-1] == inputs.clock.n_steps and len(done) > 1
    for name, a, b in zip(whole._fields, whole, chunked):
        assert np.array_equal(a, b, equal_nan=True), name
