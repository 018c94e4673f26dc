"""How socbal's own device drivers (socbal-modbus, socbal-mqtt) share a device setpoint among the packs, for any SOCs."""

from __future__ import annotations

import time

from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from socbal.drivers.registry import driver_config, open_driver
from socbal.drivers.socbal_packs import SocbalPacksDriver
from socbal.runtime.telemetry import PackReading

CAPS_W = (1200.0, 800.0, 600.0)
PACKS = [{"id": f"p{i}", "capacity_wh": 1920, "max_discharge_w": w, "max_charge_w": w} for i, w in enumerate(CAPS_W)]


def packs_driver(name: str) -> SocbalPacksDriver:
    d = open_driver(driver_config({"driver": name, "host": "127.0.0.1", "packs": PACKS, "settings": {"backup_reserve_pct": 10}}))
    assert isinstance(d, SocbalPacksDriver)
    return d


DRIVERS = {name: packs_driver(name) for name in ("socbal-modbus", "socbal-mqtt")}


@hsettings(max_examples=150, deadline=None)
@given(
    name=st.sampled_from(sorted(DRIVERS)),
    socs=st.lists(st.floats(0, 100), min_size=3, max_size=3),
    online=st.lists(st.booleans(), min_size=3, max_size=3),
    reported_w=st.lists(st.floats(0, 2000), min_size=3, max_size=3),
    setpoint_w=st.floats(-5000, 5000),
)
def test_shares_stay_within_every_limit_and_the_direction(name, socs, online, reported_w, setpoint_w):
    drv = DRIVERS[name]
    now = time.monotonic()
    drv.readings = {
        f"p{i}": PackReading(soc, 0.0, reported_w[i], reported_w[i], True, now) for i, soc in enumerate(socs) if online[i]
    }
    clamped = drv.clamp_w(setpoint_w)
    assert -sum(CAPS_W) <= clamped <= sum(CAPS_W)
    shares = drv.share(clamped)
    assert set(shares) == {"p0", "p1", "p2"}
    for i, cap in enumerate(CAPS_W):
        w = shares[f"p{i}"]
        if not online[i]:
            assert w == 0.0  # a pack without usable telemetry gets nothing
        assert abs(w) <= min(cap, reported_w[i]) + 1e-6  # its configured cap and what it reports it can do
        assert w * clamped >= 0.0  # never against the device's direction: no pack charges another
        if clamped > 0 and socs[i] <= 10.0:
            assert w <= 1e-9  # at or below the reserve: no discharge
    assert abs(sum(shares.values())) <= abs(clamped) + 1e-6
