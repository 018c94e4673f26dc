"""Injected faults, seen from plain protocol clients: ignored writes, frozen telemetry, drop-outs."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from pymodbus.client import AsyncModbusTcpClient

from socbal.emulators.marstek import MarstekEmulator
from socbal.emulators.zendure import ZendureEmulator
from tests.emulators.harness import LOOPBACK, device, serving, until

SN = "SN1"


def test_ignored_writes_and_frozen_telemetry():
    async def scenario():
        emu = ZendureEmulator(device(), serial=SN, stale_echo_s=0.0)
        async with serving(emu) as port, httpx.AsyncClient(base_url=f"http://{LOOPBACK}:{port}", timeout=5) as c:
            emu.device.faults.ignore_writes = True
            r = await c.post("/properties/write", json={"sn": SN, "properties": {"acMode": 2, "outputLimit": 500}})
            assert r.status_code == 200 and emu.device.commanded_w == 0.0  # answered, but nothing happens
            emu.device.faults.ignore_writes = False
            await c.post("/properties/write", json={"sn": SN, "properties": {"acMode": 2, "outputLimit": 500}})
            await until(lambda: emu.device.snapshot().battery_power_w > 495)
            emu.device.faults.freeze_telemetry = True
            await asyncio.sleep(0.1)
            frozen = (await c.get("/properties/report")).json()["packData"]
            await c.post("/properties/write", json={"sn": SN, "properties": {"acMode": 1, "inputLimit": 500}})
            await asyncio.sleep(0.3)
            assert (await c.get("/properties/report")).json()["packData"] == frozen
            assert emu.device.packs.power_w.sum() < -495  # the device moved on underneath
            emu.device.faults.freeze_telemetry = False
            await asyncio.sleep(0.1)
            assert (await c.get("/properties/report")).json()["properties"]["outputPackPower"] > 495

    asyncio.run(scenario())


def test_http_drop_out_times_the_client_out():
    async def scenario():
        emu = ZendureEmulator(device(), serial=SN)
        async with serving(emu) as port, httpx.AsyncClient(base_url=f"http://{LOOPBACK}:{port}", timeout=0.3) as c:
            emu.device.drop_out(0.8)
            with pytest.raises(httpx.TimeoutException):
                await c.get("/properties/report")
            await asyncio.sleep(0.9)
            assert (await c.get("/properties/report")).status_code == 200

    asyncio.run(scenario())


def test_modbus_drop_out_closes_and_refuses_connections():
    async def scenario():
        emu = MarstekEmulator(device())
        async with serving(emu) as port:
            c = AsyncModbusTcpClient(LOOPBACK, port=port, timeout=0.3, retries=0, reconnect_delay=0)
            assert await c.connect()
            emu.device.drop_out(0.6)
            # closed at the next tick (0.02 s); a fixed sleep could end in the same loop turn as a late tick, before it
            await until(lambda: not c.connected, timeout_s=0.5)
            await until(emu.device.online, timeout_s=2)
            c = AsyncModbusTcpClient(LOOPBACK, port=port, timeout=1, retries=0)
            assert await c.connect()
            assert (await c.read_holding_registers(34002, count=1, device_id=1)).registers == [600]
            c.close()

    asyncio.run(scenario())
