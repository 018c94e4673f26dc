"""The Zendure emulator against a plain HTTP client written from zenSDK's README and en_properties.md."""

from __future__ import annotations

import asyncio

import httpx

from socbal.emulators.zendure import ZendureEmulator
from tests.emulators.harness import LOOPBACK, device, serving, until

SN = "WOB1NHMAMXXXXX3"


def test_report_fields_write_and_stale_echo():
    async def scenario():
        emu = ZendureEmulator(device(), serial=SN, stale_echo_s=0.5)
        async with serving(emu) as port, httpx.AsyncClient(base_url=f"http://{LOOPBACK}:{port}", timeout=5) as c:
            report = (await c.get("/properties/report")).json()
            assert {"timestamp", "messageId", "sn", "version", "product", "properties", "packData"} <= set(report)
            props = report["properties"]
            assert props["electricLevel"] == 60 and props["packNum"] == 2 and props["minSoc"] == 10
            assert [p["socLevel"] for p in report["packData"]] == [80, 40]
            assert all((p["maxTemp"] - 2731) / 10.0 == 25.0 for p in report["packData"])  # 0.1 K
            r = await c.post(
                "/properties/write", json={"sn": SN, "properties": {"acMode": 2, "outputLimit": 300, "smartMode": 1}}
            )
            assert r.status_code == 200 and emu.device.commanded_w == 300.0
            assert (await c.get("/properties/report")).json()["properties"]["outputLimit"] == 0  # the old value, ~2 s on hardware
            await until(lambda: emu.echo["outputLimit"] == 300)
            await until(lambda: emu.device.snapshot().battery_power_w > 295)
            report = (await c.get("/properties/report")).json()
            props = report["properties"]
            assert props["outputLimit"] == 300 and props["packInputPower"] > 295 and props["outputPackPower"] == 0
            assert {p["state"] for p in report["packData"]} == {2}
            raw = report["packData"][0]["batcur"]
            assert (raw - 65536 if raw > 32767 else raw) < 0  # int16 two's complement, 0.1 A: discharging is negative
            r = await c.post("/properties/write", json={"sn": SN, "properties": {"acMode": 1, "inputLimit": 400}})
            assert r.status_code == 200 and emu.device.commanded_w == -400.0

    asyncio.run(scenario())


def test_refusals_and_the_negative_output_limit():
    async def scenario():
        emu = ZendureEmulator(device(), serial=SN)
        async with serving(emu) as port, httpx.AsyncClient(base_url=f"http://{LOOPBACK}:{port}", timeout=5) as c:
            assert (await c.post("/properties/write", json={"sn": "OTHER", "properties": {"acMode": 2}})).status_code == 400
            assert (await c.post("/properties/write", json={"properties": {"acMode": 2}})).status_code == 400
            big = {"sn": SN, "properties": {"acMode": 2}, "pad": "x" * 600}
            assert (await c.post("/properties/write", json=big)).status_code == 400  # over 512 bytes
            assert (await c.post("/properties/write", json={"sn": SN, "properties": {"socSet": 50}})).status_code == 400
            assert emu.writes == []
            r = await c.post("/properties/write", json={"sn": SN, "properties": {"acMode": 2, "outputLimit": -200}})
            assert r.status_code == 200 and emu.device.commanded_w == 800.0  # accepted, and then high output (field report)

    asyncio.run(scenario())
