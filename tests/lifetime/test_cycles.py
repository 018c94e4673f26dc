import numpy as np
import pandas as pd
import pytest

from socbal.errors import InputError
from socbal.lifetime.cycles import cycle_summary, dod_histogram, soc_swing_efc, time_at_soc_s


def test_one_full_swing_down_and_up_is_one_cycle():
    assert soc_swing_efc([100, 0, 100]) == 1.0
    assert soc_swing_efc(np.full(10, 42.0)) == 0.0


def test_dod_histogram_counts_rainflow_cycles_by_depth():
    soc = np.tile([90.0, 10.0], 5).tolist() + [90.0]  # five 80 % cycles
    soc = soc[:3] + [50.0, 70.0, 50.0] + soc[3:]  # and one 20 % cycle inside
    hist = dod_histogram(soc)
    assert list(hist.columns) == ["dod_from_pct", "dod_to_pct", "cycles"]
    assert hist.set_index("dod_to_pct")["cycles"].to_dict()[80.0] == pytest.approx(5.0)
    assert hist.set_index("dod_to_pct")["cycles"].to_dict()[20.0] == pytest.approx(1.0)
    assert hist["cycles"].sum() == pytest.approx(6.0)


def test_time_at_high_and_low_soc():
    assert time_at_soc_s([95, 95, 50, 5, 10], 60.0) == (120.0, 120.0)


def test_summary_has_a_row_per_pack():
    soc = pd.DataFrame({"main": [20.0, 100.0, 20.0], "p1": [50.0, 50.0, 50.0]})
    table = cycle_summary(soc, 3600.0)
    assert list(table.index) == ["main", "p1"]
    assert table.loc["main", "soc_swing_efc"] == pytest.approx(0.8)
    assert table.loc["main", "max_dod_pct"] == pytest.approx(80.0)
    assert table.loc["p1", "time_high_s"] == 0.0


def test_soc_outside_0_100_is_refused():
    with pytest.raises(InputError, match=r"soc_pct\[1\]: value 101.0 is not allowed: must be 0-100"):
        soc_swing_efc([50, 101])
