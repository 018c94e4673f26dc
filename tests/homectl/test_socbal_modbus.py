"""The socbal-modbus driver: socbal's own emulated device (per-pack register map) as one device of a home, next to an
Indevolt, over real Modbus TCP and HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from socbal.emulators.http import serve_app
from socbal.emulators.indevolt import IndevoltEmulator
from socbal.emulators.meters import meter_app
from socbal.errors import InputError
from socbal.homectl.config import home_config_from_dict
from socbal.homectl.controller import HomeController
from socbal.runtime.emulator import EmulatedDevice, serve
from tests.emulators.harness import device, serving, two_packs, until
from tests.homectl.harness import config, device_entry, running
from tests.runtime.conftest import LOOPBACK, free_port

PACKS = [
    {"id": "main", "capacity_wh": 1920, "max_discharge_w": 1200, "max_charge_w": 1200},
    {"id": "p1", "capacity_wh": 1920, "max_discharge_w": 1200, "max_charge_w": 1200},
]


def socbal_entry(port: int) -> dict:
    return {
        "driver": "socbal-modbus",
        "id": "own",
        "host": LOOPBACK,
        "port": port,
        "packs": PACKS,
        "latency_s": 0.3,
        "watchdog_s": 2,
        "pacing": {"min_write_interval_s": 0.3, "keepalive_s": 0.6},
    }


def test_keepalive_must_be_inside_the_watchdog():
    entry = {**socbal_entry(502), "pacing": {"keepalive_s": 5}}
    raw = {"meter": {"kind": "shelly-pro-3em", "host": LOOPBACK}, "devices": [entry]}
    with pytest.raises(InputError, match=r"devices\[0\]: pacing.keepalive_s must be below watchdog_s"):
        home_config_from_dict(raw)
    ok = home_config_from_dict({**raw, "devices": [socbal_entry(502)]})
    assert ok.devices[0].capacity_wh == 3840  # its packs' capacity when not given


def test_own_device_shares_its_setpoint_by_the_ems_and_expires_when_socbal_stops(tmp_path):
    async def scenario():
        own = EmulatedDevice(two_packs(main_soc=80, pack_soc=40, load_w=2600), speed=1.0, watchdog_s=2)
        ind = IndevoltEmulator(device(two_packs()))
        stop, ready = asyncio.Event(), asyncio.Event()
        port, meter_port = free_port(), free_port()

        def grid_w() -> float:
            return own.now_load_w - own.now_pv_w - float(own.power_w.sum()) + ind.device.snapshot().grid_w

        tasks = [asyncio.create_task(serve(own, stop, LOOPBACK, modbus_port=port, tick_s=0.05, on_ready=ready.set))]
        tasks.append(asyncio.create_task(serve_app(meter_app("shelly-pro-3em", grid_w), stop, LOOPBACK, meter_port)))
        async with contextlib.AsyncExitStack() as stack:
            ind_port = await stack.enter_async_context(serving(ind))
            await asyncio.wait_for(ready.wait(), 10)
            # always-share: socbal's auto staging would fill the fuller device to its limit, where both packs cap alike
            entries = [socbal_entry(port), device_entry(ind, ind_port, "ind")]
            cfg = config(tmp_path, entries, meter_port, home={"staging": "always-share"})
            ctl = HomeController(cfg)
            try:
                async with running(ctl):
                    await until(lambda: abs(grid_w()) < 40 and ctl.decisions > 5, timeout_s=10)
                    main, p1 = own.power_w
                    assert main > p1 > 0  # the fuller pack gives more: socbal's EMS shares the device's setpoint
                    state = ctl.state()["devices"]["own"]
                    assert state["weakest_soc_pct"] == pytest.approx(40, abs=1) and state["online"]
                await until(lambda: own.watchdog_tripped or not own.setpoint_w.any(), timeout_s=4)
                assert not own.setpoint_w.any()  # stopped: every pack at 0 W
            finally:
                stop.set()
                await asyncio.wait(tasks, timeout=10)

    asyncio.run(scenario())
