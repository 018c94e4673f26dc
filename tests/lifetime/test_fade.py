import numpy as np
import pandas as pd
import pytest

pytest.importorskip("blast", reason="BLAST-Lite (socbal[lifetime]) is not installed")

from socbal.errors import InputError  # noqa: E402
from socbal.lifetime.fade import capacity_after, fade_trajectory, pack_capacity  # noqa: E402

STEP_S = 3600.0
TIME_S = np.arange(0, 14 * 86400, STEP_S)  # two weeks, repeated over the years
YEARS = 3.0


def daily_cycles(depth_pct, per_day=1.0, mean_pct=50.0):
    return mean_pct + depth_pct / 2 * np.cos(2 * np.pi * per_day * TIME_S / 86400)


@pytest.mark.parametrize("chemistry", ["lfp", "nmc"])
def test_deeper_cycling_never_gives_less_fade(chemistry):
    capacity = [capacity_after(TIME_S, daily_cycles(d), 25.0, YEARS, chemistry)["capacity_frac"] for d in (0, 20, 50, 80)]
    assert all(later <= earlier for earlier, later in zip(capacity, capacity[1:]))
    assert capacity[-1] < capacity[0]


@pytest.mark.parametrize("chemistry", ["lfp", "nmc"])
def test_more_cycles_per_day_never_give_less_fade(chemistry):
    capacity = [capacity_after(TIME_S, daily_cycles(60, n), 25.0, YEARS, chemistry)["capacity_frac"] for n in (0.5, 1, 2)]
    assert all(later <= earlier for earlier, later in zip(capacity, capacity[1:]))


@pytest.mark.parametrize("chemistry", ["lfp", "nmc"])
def test_an_idle_pack_fades_by_calendar_ageing_only(chemistry):
    idle = capacity_after(TIME_S, np.full(len(TIME_S), 60.0), 25.0, YEARS, chemistry)
    assert idle["cycle_frac"] == 1.0
    assert idle["capacity_frac"] == pytest.approx(idle["calendar_frac"])
    assert 0.7 < idle["capacity_frac"] < 1.0
    hot = capacity_after(TIME_S, np.full(len(TIME_S), 60.0), 35.0, YEARS, chemistry)
    assert hot["capacity_frac"] < idle["capacity_frac"]


def test_trajectory_starts_new_and_falls():
    trajectory = fade_trajectory(TIME_S, daily_cycles(50), 25.0, 2.0, "lfp")
    assert trajectory.index[0] == 0.0 and trajectory.index[-1] >= 2.0
    assert trajectory["capacity_frac"].iloc[0] == 1.0
    assert (np.diff(trajectory["capacity_frac"]) <= 1e-12).all()


def test_pack_capacity_has_a_row_per_pack():
    soc = pd.DataFrame({"main": daily_cycles(80), "p1": np.full(len(TIME_S), 50.0)})
    table = pack_capacity(soc, STEP_S, YEARS, 25.0, "nmc")
    assert list(table.index) == ["main", "p1"]
    assert table.loc["main", "capacity_frac"] < table.loc["p1", "capacity_frac"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"chemistry": "lto"}, "chemistry: value 'lto' is not allowed: one of 'lfp', 'nmc'"),
        ({"soc_pct": np.full(len(TIME_S), 120.0)}, "soc_pct[0]: value 120.0 is not allowed: must be 0-100"),
        ({"temperature_c": np.zeros(3)}, "temperature_c: length 3 is not allowed"),
        ({"years": 0.0}, "years: value 0.0 is not allowed"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    args = {"time_s": TIME_S, "soc_pct": daily_cycles(50), "temperature_c": 25.0, "years": 1.0, "chemistry": "lfp"}
    with pytest.raises(InputError) as err:
        capacity_after(**(args | kwargs))
    assert message in str(err.value)
