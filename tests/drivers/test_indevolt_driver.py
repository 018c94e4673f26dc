"""The Indevolt driver against the Indevolt emulator over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio

import pytest

from socbal.drivers.base import DriverError
from socbal.drivers.indevolt_http import IndevoltConfig, IndevoltDriver
from socbal.emulators.device import Dynamics
from socbal.emulators.indevolt import IndevoltEmulator
from tests.emulators.harness import LOOPBACK, device, serving, two_packs, until


def driver(port: int, **over) -> IndevoltDriver:
    raw = {"host": LOOPBACK, "port": port, "packs": 1, "min_request_interval_s": 0.0, "pacing": {"min_write_interval_s": 0.0}}
    raw.update(over)
    return IndevoltDriver(IndevoltConfig.model_validate(raw))


def test_reads_all_telemetry_and_writes_every_control():
    async def scenario():
        emu = IndevoltEmulator(device())
        async with serving(emu) as port:
            drv = driver(port)
            t = await drv.read()
            assert t.pack_soc_pct == (80.0, 40.0) and t.soc_pct == 60.0 and t.weakest_soc_pct == 40.0
            assert t.reserve_pct == 10.0 and t.max_discharge_w == 2400.0 and t.state == "standby" and t.online
            assert await drv.write(900.0)
            assert emu.writes[:2] == [(47005, [4]), (47015, [2, 900, 10])]  # real-time mode, then state + power + target
            await until(lambda: abs(emu.device.snapshot().battery_power_w - 900) < 5)
            t = await drv.read()
            assert t.state == "discharging" and t.battery_power_w == pytest.approx(900, abs=5) and t.setpoint_w == 900
            split = emu.device.packs.power_w
            assert split[0] == pytest.approx(600, abs=5) and split[1] == pytest.approx(300, abs=5)  # firmware balancing
            assert await drv.write(-500.0)
            assert emu.writes[-1] == (47015, [1, 500, 100])
            await until(lambda: emu.device.snapshot().battery_power_w < -490)
            t = await drv.read()
            assert t.state == "charging" and t.battery_power_w == pytest.approx(-500, abs=5)
            assert await drv.write(30.0)  # under the 50 W minimum: standby
            assert emu.writes[-1] == (47015, [0, 0, 10])
            assert sum(1 for p, _ in emu.writes if p == 47005) == 1
            await drv.close()
            assert emu.mode == 1  # on_close hands the device back to self-consumption

    asyncio.run(scenario())


def test_pacing_interval_and_deadband_newest_wins():
    async def scenario():
        emu = IndevoltEmulator(device())
        async with serving(emu) as port:
            drv = driver(port, pacing={"min_write_interval_s": 0.3, "deadband_w": 40})
            loop = asyncio.get_running_loop()
            start = loop.time()
            value = 100.0
            while loop.time() - start < 1.0:
                value += 10.0
                await drv.write(value)
                await asyncio.sleep(0.02)
            commands = [v for p, v in emu.writes if p == 47015]
            assert 2 <= len(commands) <= 5  # 1 s at one write per 0.3 s, not ~45
            drv.pacer.offer(value + 200)  # an older pending value, replaced before it could go out
            await asyncio.sleep(0.35)
            assert await drv.write(value + 50)
            assert emu.writes[-1] == (47015, [2, int(value + 50), 10])  # the newest value went out
            n = len(emu.writes)
            await asyncio.sleep(0.35)
            assert not await drv.write(value + 80)  # inside the 40 W deadband: no write
            assert len(emu.writes) == n and drv.pacer.writes == len(commands) + 1
            await drv.close()

    asyncio.run(scenario())


def test_digest_auth_and_rate_limit(monkeypatch):
    async def scenario():
        limited = Dynamics(latency_s=0, ramp_w_per_s=1e5, min_request_interval_s=0.2)
        emu = IndevoltEmulator(device(dynamics=limited), password="s3cret")
        async with serving(emu) as port:
            good = driver(port, password_env="INDEVOLT_TEST_PW", min_request_interval_s=0.25)
            t = await good.read()
            assert t.soc_pct == 60.0
            await good.read()  # spaced by the driver: no 503
            await good.close()
            await asyncio.sleep(0.25)
            bad = driver(port, password_file=None)  # no password: 401
            with pytest.raises(DriverError, match="401"):
                await bad.read()
            await bad.close()
            await asyncio.sleep(0.25)
            hasty = driver(port, password_env="INDEVOLT_TEST_PW")
            await hasty.read()
            with pytest.raises(DriverError, match="503"):
                await hasty.read()  # sooner than the device allows
            await hasty.close()

    monkeypatch.setenv("INDEVOLT_TEST_PW", "s3cret")
    asyncio.run(scenario())


def test_drop_out_is_an_error_then_recovers_and_the_pending_setpoint_is_the_newest():
    async def scenario():
        emu = IndevoltEmulator(device())
        async with serving(emu) as port:
            drv = driver(port, timeout_s=0.3, retries=0)
            await drv.write(400.0)
            emu.device.drop_out(0.8)
            with pytest.raises(DriverError):
                await drv.write(700.0)
            drv.pacer.offer(800.0)  # a newer setpoint while the device is away
            await asyncio.sleep(0.9)
            t = await drv.read()  # the read first sends what is pending: 800, never the stale 700
            assert t.online
            assert emu.writes[-1] == (47015, [2, 800, 10]) and all(v[1] != 700 for p, v in emu.writes if p == 47015)
            await drv.close()

    asyncio.run(scenario())


def test_pack_at_reserve_goes_to_standby_while_the_other_carries_on():
    async def scenario():
        emu = IndevoltEmulator(device(two_packs(main_soc=80, pack_soc=9.0), speed=1.0))
        async with serving(emu) as port:
            drv = driver(port)
            await drv.write(900.0)
            await until(lambda: emu.device.snapshot().battery_power_w > 890)
            assert emu.device.packs.power_w[1] == 0.0 and emu.device.packs.power_w[0] == pytest.approx(900, abs=5)
            await drv.close()

    asyncio.run(scenario())
