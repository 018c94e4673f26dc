"""The Marstek driver against the Marstek emulator over real Modbus TCP on 127.0.0.1."""

from __future__ import annotations

import asyncio

import pytest
from pymodbus.client import AsyncModbusTcpClient

from socbal.drivers.marstek_modbus import CONTROL_ON, MAPS, MarstekConfig, MarstekDriver
from socbal.emulators.marstek import MarstekEmulator
from tests.emulators.harness import LOOPBACK, device, serving, until


def driver(port: int, **over) -> MarstekDriver:
    raw = {"host": LOOPBACK, "port": port, "timeout_s": 1.0, "pacing": {"min_write_interval_s": 0.0, "keepalive_s": 0.2}}
    raw.update(over)
    return MarstekDriver(MarstekConfig.model_validate(raw))


@pytest.mark.parametrize("model", ["venus-e-v12", "venus-e-v3", "venus-a"])
def test_reads_all_telemetry_and_writes_every_control(model):
    async def scenario():
        emu = MarstekEmulator(device(), model=model)
        async with serving(emu) as port:
            drv = driver(port, model=model, packs=2)
            t = await drv.read()
            assert t.soc_pct == pytest.approx(60.0, abs=1.0) and t.state == "standby"
            assert t.max_discharge_w == min(MAPS[model].max_power_w, 2400.0)  # the model's cap, or what the packs can do
            assert t.pack_soc_pct == ((80.0, 40.0) if model == "venus-a" else ())
            assert await drv.write(800.0)
            assert emu.writes == [(42000, CONTROL_ON), (42021, 800), (42010, 2)]
            await until(lambda: emu.device.snapshot().battery_power_w > 795)
            t = await drv.read()
            assert t.battery_power_w == pytest.approx(800, abs=5) and t.state == "discharging" and t.setpoint_w == 800
            assert await drv.write(-600.0)
            assert emu.writes[-2:] == [(42020, 600), (42010, 1)]
            await until(lambda: emu.device.snapshot().battery_power_w < -595)
            assert (await drv.read()).battery_power_w == pytest.approx(-600, abs=5)
            assert await drv.write(0.0)
            assert emu.writes[-1] == (42010, 0)
            await drv.close()
            assert emu.writes[-1] == (42000, 0x55BB)  # on_close "auto": back to the unit's own mode

    asyncio.run(scenario())


def test_keepalive_is_kept_by_reads_and_its_loss_is_detected():
    async def scenario():
        emu = MarstekEmulator(device(), keepalive_timeout_s=0.6)
        async with serving(emu) as port:
            drv = driver(port)
            await drv.write(500.0)
            loop = asyncio.get_running_loop()
            start = loop.time()
            while loop.time() - start < 1.5:
                t = await drv.read()
                assert t.fault is None
                await asyncio.sleep(0.05)
            keepalives = sum(1 for a, v in emu.writes if a == 42000 and v == CONTROL_ON)
            assert emu.keepalive_lapses == 0 and 5 <= keepalives <= 9  # every 0.2 s over 1.5 s
            assert emu.device.commanded_w == 500.0
            silent = driver(port, pacing={"min_write_interval_s": 0.0, "keepalive_s": None})
            await drv.close()
            await silent.write(500.0)
            await asyncio.sleep(0.8)  # no refresh for longer than the unit waits
            t = await silent.read()
            assert emu.keepalive_lapses == 1 and "keep-alive" in (t.fault or "")
            assert emu.device.commanded_w == 0.0  # the unit dropped to standby by itself
            await silent.close()

    asyncio.run(scenario())


def test_one_connection_at_a_time():
    async def scenario():
        emu = MarstekEmulator(device())
        async with serving(emu) as port:
            drv = driver(port)
            await drv.read()
            other = AsyncModbusTcpClient(LOOPBACK, port=port, timeout=0.5, retries=0)
            await other.connect()
            await asyncio.sleep(0.1)
            with pytest.raises(Exception):  # the unit closed the second connection
                result = await other.read_holding_registers(34002, count=1, device_id=1)
                assert not result.isError()
            other.close()
            assert emu.refused_connections >= 1
            assert (await drv.read()).online  # the driver's own connection still works
            await drv.close()

    asyncio.run(scenario())
