"""The home controller against vendor emulators and a Shelly meter over real sockets on 127.0.0.1.

The emulated home here is the devices' own emulators with a meter serving the sum of their grid power; the
whole-home emulator with its shared clock is in ``test_home_e2e.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time

import httpx
import pytest

from socbal.emulators.indevolt import IndevoltEmulator
from socbal.emulators.marstek import MarstekEmulator
from socbal.emulators.zendure import ZendureEmulator
from socbal.homectl.controller import HomeController
from tests.emulators.harness import LoopLag, device, two_packs, until
from tests.homectl.harness import MeterSwitch, config, device_entry, grid_w, home, running
from tests.runtime.conftest import free_port


def events(controller: HomeController, kind: str) -> list[dict]:
    """The controller's events of one kind, oldest first (also once it has stopped and closed its store)."""
    controller.store.flush()
    with contextlib.closing(sqlite3.connect(controller.store.path)) as db:
        rows = db.execute("SELECT pack_id, message FROM events WHERE kind = ? ORDER BY id", (kind,)).fetchall()
    return [{"kind": kind, "pack_id": r[0], "message": r[1]} for r in rows]


def test_load_above_one_device_is_shared_and_the_grid_settles_at_zero(tmp_path):
    async def scenario():
        emus = [IndevoltEmulator(device(two_packs(load_w=2800))), ZendureEmulator(device(two_packs()))]
        async with home(emus) as (ports, meter_port):
            entries = [device_entry(emus[0], ports[0], "ind"), device_entry(emus[1], ports[1], "zen")]
            ctl = HomeController(config(tmp_path, entries, meter_port))
            async with running(ctl):
                await until(lambda: abs(grid_w(emus)) < 30 and ctl.decisions > 3, timeout_s=10)
                both = [e.device.snapshot().battery_power_w for e in emus]
                assert both[0] > 1000 and both[1] > 200  # the Indevolt alone (2400 W) could not: both discharge
                assert sum(both) == pytest.approx(2800, abs=40)
                state = ctl.state()
                # socbal fills the first device (equal SOCs: the first listed) to its 2400 W before the next gets power
                assert state["devices"]["ind"]["setpoint_w"] == pytest.approx(2400)
        assert emus[0].mode == 1 and emus[1].props["outputLimit"] == 0  # stop: own mode / 0 W

    asyncio.run(scenario())


def test_stale_meter_ramps_every_device_to_zero_within_the_timeout(tmp_path):
    async def scenario():
        emus = [IndevoltEmulator(device(two_packs(load_w=1500))), MarstekEmulator(device(two_packs()))]
        meter = MeterSwitch(emus)
        async with home(emus, meter) as (ports, meter_port):
            entries = [device_entry(emus[0], ports[0], "ind"), device_entry(emus[1], ports[1], "mar")]
            cfg = config(tmp_path, entries, meter_port, home={"staging": "always-share"})
            ctl = HomeController(cfg)
            async with running(ctl):
                await until(lambda: all(e.device.snapshot().battery_power_w > 100 for e in emus), timeout_s=10)
                meter.broken = True
                broken_s = time.monotonic()
                async with LoopLag() as lag:
                    await until(lambda: all(e.device.commanded_w == 0.0 for e in emus), timeout_s=6 + 10)
                took_s = time.monotonic() - broken_s
                assert took_s <= cfg.meter.stale_after_s + 2 * cfg.home.period_s + 0.5 + lag.late_s
                assert ctl.state()["faults"]["meter"].startswith("stale:")
                meter.broken = False
                await until(lambda: abs(grid_w(emus)) < 30 and "meter" not in ctl.faults.active, timeout_s=10)
        kinds = [(e["kind"], e["message"].split(":")[0]) for e in events(ctl, "fault") + events(ctl, "recovered")]
        assert ("fault", "meter") in kinds and ("recovered", "meter") in kinds

    asyncio.run(scenario())


def test_stale_meter_hand_back_returns_each_device_to_its_own_mode(tmp_path):
    async def scenario():
        emus = [IndevoltEmulator(device(two_packs(load_w=800))), MarstekEmulator(device(two_packs()))]
        meter = MeterSwitch(emus)
        async with home(emus, meter) as (ports, meter_port):
            entries = [device_entry(emus[0], ports[0], "ind"), device_entry(emus[1], ports[1], "mar")]
            cfg = config(tmp_path, entries, meter_port, home={"staging": "always-share"}, fail_safe={"stale_meter": "hand-back"})
            ctl = HomeController(cfg)
            async with running(ctl):
                await until(lambda: emus[0].mode == 4 and emus[1].controlled, timeout_s=10)
                meter.broken = True
                await until(lambda: emus[0].mode == 1 and not emus[1].controlled, timeout_s=6)  # self-consumption; RS485 off
                meter.broken = False
                await until(lambda: emus[0].mode == 4 and emus[1].controlled, timeout_s=10)  # control taken back

    asyncio.run(scenario())


def test_a_device_dropping_out_is_covered_by_the_other_and_rejoins(tmp_path):
    async def scenario():
        emus = [IndevoltEmulator(device(two_packs(load_w=1600))), ZendureEmulator(device(two_packs()))]
        async with home(emus) as (ports, meter_port):
            entries = [device_entry(emus[0], ports[0], "ind"), device_entry(emus[1], ports[1], "zen", timeout_s=0.5)]
            cfg = config(tmp_path, entries, meter_port, home={"staging": "always-share"}, fail_safe={"offline_after": 1})
            ctl = HomeController(cfg)
            async with running(ctl):
                await until(lambda: emus[1].device.snapshot().battery_power_w > 300 and abs(grid_w(emus)) < 30, timeout_s=10)
                emus[1].device.drop_out(4.0)
                await until(lambda: not ctl.state()["devices"]["zen"]["online"], timeout_s=4)
                # The Zendure keeps its last limit while unreachable; the Indevolt takes the rest of the load.
                await until(lambda: abs(grid_w(emus)) < 40, timeout_s=4)
                await until(lambda: ctl.state()["devices"]["zen"]["online"], timeout_s=8)
                await until(lambda: abs(grid_w(emus)) < 30 and emus[1].device.snapshot().battery_power_w > 300, timeout_s=8)
                await until(lambda: any(e["pack_id"] == "zen" for e in events(ctl, "recovered")), timeout_s=5)
        faults = [e["message"] for e in events(ctl, "fault") if e["pack_id"] == "zen"]
        assert faults and faults[0].startswith("zen: offline")
        assert any(e["pack_id"] == "zen" for e in events(ctl, "recovered"))

    asyncio.run(scenario())


def test_a_device_that_does_not_follow_is_excluded_and_its_share_goes_to_the_other(tmp_path):
    async def scenario():
        emus = [IndevoltEmulator(device(two_packs(load_w=1500))), ZendureEmulator(device(two_packs()))]
        emus[1].device.faults.ignore_writes = True  # answers every write, does nothing
        async with home(emus) as (ports, meter_port):
            entries = [device_entry(emus[0], ports[0], "ind"), device_entry(emus[1], ports[1], "zen")]
            fail_safe = {"exclude_s": 30, "follow_timeout_s": 2}
            cfg = config(tmp_path, entries, meter_port, home={"staging": "always-share"}, fail_safe=fail_safe)
            ctl = HomeController(cfg)
            async with running(ctl):
                await until(lambda: ctl.state()["devices"]["zen"]["excluded"], timeout_s=10)
                await until(lambda: abs(grid_w(emus)) < 30, timeout_s=6)
                assert emus[0].device.snapshot().battery_power_w == pytest.approx(1500, abs=30)
                await until(lambda: ctl.state()["devices"]["zen"]["setpoint_w"] == 0.0, timeout_s=2)  # told to stop
        faults = [e for e in events(ctl, "fault") if e["pack_id"] == "zen"]
        assert any("not following" in e["message"] for e in faults)

    asyncio.run(scenario())


def test_marstek_keepalive_missed_is_detected_logged_and_control_restored(tmp_path):
    async def scenario():
        emus = [MarstekEmulator(device(two_packs(load_w=600)), keepalive_timeout_s=1.0)]
        async with home(emus) as (ports, meter_port):
            entry = device_entry(emus[0], ports[0], "mar", pacing={"min_write_interval_s": 0.3, "keepalive_s": 30})
            ctl = HomeController(config(tmp_path, [entry], meter_port))
            async with running(ctl):
                await until(lambda: emus[0].keepalive_lapses >= 1, timeout_s=10)
                await until(lambda: any("RS485 control lost" in e["message"] for e in events(ctl, "fault")), timeout_s=5)
                await until(lambda: emus[0].controlled and abs(grid_w(emus)) < 30, timeout_s=5)  # rewritten: control back
                await until(lambda: any(e["pack_id"] == "mar" for e in events(ctl, "recovered")), timeout_s=5)

    asyncio.run(scenario())


def test_settings_over_http_with_a_token_move_the_grid_target(tmp_path, monkeypatch):
    async def scenario():
        emus = [IndevoltEmulator(device(two_packs(load_w=1000)))]
        async with home(emus) as (ports, meter_port):
            monkeypatch.setenv("HOME_TOKEN", "s3cret-token-for-tests")
            http = {"enabled": True, "port": 0, "token_env": "HOME_TOKEN"}
            ctl = HomeController.from_config(config(tmp_path, [device_entry(emus[0], ports[0], "ind")], meter_port, http=http))
            async with running(ctl):
                await until(lambda: ctl.http_port is not None and abs(grid_w(emus)) < 30, timeout_s=10)
                url = f"http://127.0.0.1:{ctl.http_port}"
                async with httpx.AsyncClient(base_url=url) as client:
                    assert (await client.patch("/settings", json={"grid_target_w": 300})).status_code == 401
                    headers = {"Authorization": "Bearer s3cret-token-for-tests"}
                    bad = await client.patch("/settings", json={"grid_target_w": "lots"}, headers=headers)
                    assert bad.status_code == 422 and "grid_target_w" in bad.text
                    ok = await client.patch("/settings", json={"grid_target_w": 300}, headers=headers)
                    assert ok.status_code == 200 and ok.json()["grid_target_w"] == 300
                    await until(lambda: abs(grid_w(emus) - 300) < 30, timeout_s=8)
                    status = (await client.get("/status")).json()
                    assert status["kind"] == "home" and status["devices"]["ind"]["online"] is True
        assert any("grid_target_w=300" in e["message"] for e in events(ctl, "setting"))

    asyncio.run(scenario())


def test_a_device_that_never_answers_is_offline_and_the_others_carry_on(tmp_path):
    async def scenario():
        emus = [IndevoltEmulator(device(two_packs(load_w=900)))]
        async with home(emus) as (ports, meter_port):
            silent = {"driver": "marstek-modbus", "id": "gone", "host": "127.0.0.1", "port": free_port(), "capacity_wh": 2000}
            ctl = HomeController(config(tmp_path, [device_entry(emus[0], ports[0], "ind"), silent], meter_port))
            async with running(ctl):
                await until(lambda: ctl.decisions > 2 and abs(grid_w(emus)) < 30, timeout_s=10)
                assert emus[0].device.snapshot().battery_power_w == pytest.approx(900, abs=30)
                await until(lambda: any(e["pack_id"] == "gone" for e in events(ctl, "fault")), timeout_s=5)
        assert not ctl.state()["devices"]["gone"]["online"]

    asyncio.run(scenario())


def test_a_slowly_polled_device_steady_at_its_setpoint_does_not_hold_decisions_back(tmp_path):
    async def scenario():
        emus = [IndevoltEmulator(device(two_packs(load_w=600))), MarstekEmulator(device(two_packs(load_w=400)))]
        async with home(emus) as (ports, meter_port):
            slow = device_entry(emus[0], ports[0], "ind", min_request_interval_s=2.0)  # one request every 2 s
            cfg = config(tmp_path, [slow, device_entry(emus[1], ports[1], "mar")], meter_port, home={"staging": "always-share"})
            ctl = HomeController(cfg)
            indevolt = ctl.slots[0]
            async with running(ctl):
                await until(lambda: abs(grid_w(emus)) < 30 and ctl.decisions > 3, timeout_s=20)
                await asyncio.sleep(2.5)  # the last writes shown: both steady at their setpoints
                async with LoopLag() as lag:
                    reads, decisions, end = set(), ctl.decisions, time.monotonic() + 4.0
                    while time.monotonic() < end:
                        reads.add(indevolt.telemetry.time_s)
                        await asyncio.sleep(0.05)
                    decisions = ctl.decisions - decisions
        # Waiting for the Indevolt to be read after each meter reading, there was at most one decision per read of it.
        # Two per read are asked in the share of the 4 s the loop got (its reads are paced by the clock, its decisions
        # by the loop): a stalled loop decides less often; at the least, more decisions than reads.
        share = max(0.0, 1.0 - lag.late_s / 4.0)
        assert len(reads) <= 3 and decisions > max(1.0, 2.0 * share) * len(reads), (len(reads), decisions, lag.late_s)

    asyncio.run(scenario())
