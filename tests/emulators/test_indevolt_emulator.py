"""The Indevolt emulator against a plain HTTP client written from open-data.md (not the driver's code)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from socbal.emulators.indevolt import IndevoltEmulator
from tests.emulators.harness import LOOPBACK, device, serving, two_packs, until


def rpc(client: httpx.AsyncClient, api: str, config: dict):
    return client.post(f"/rpc/{api}", params={"config": json.dumps(config)})


def test_getdata_setdata_and_sysconfig_as_documented():
    async def scenario():
        emu = IndevoltEmulator(device(two_packs(load_w=300)), serial="SN123")
        async with serving(emu) as port, httpx.AsyncClient(base_url=f"http://{LOOPBACK}:{port}", timeout=5) as c:
            r = await rpc(c, "Indevolt.GetData", {"t": [6002, 9000, 9016, 6105, 7101, 142, 0]})
            assert r.status_code == 200
            assert r.json() == {"6002": 60.0, "9000": 80.0, "9016": 40.0, "6105": 10, "7101": 1, "142": 3.84, "0": "SN123"}
            # Self-consumption (mode 1) at start: the device covers the 300 W load by itself.
            await until(lambda: emu.device.snapshot().battery_power_w > 295)
            assert (await rpc(c, "Indevolt.SetData", {"f": 16, "t": 47015, "v": [2, 700, 5]})).json() == {"result": False}
            assert (await rpc(c, "Indevolt.SetData", {"f": 16, "t": 47005, "v": [4]})).json() == {"result": True}
            assert (await rpc(c, "Indevolt.SetData", {"f": 16, "t": 47015, "v": [2, 700, 5]})).json() == {"result": True}
            assert emu.device.commanded_w == 700.0
            await until(lambda: abs(emu.device.snapshot().battery_power_w - 700) < 5)
            r = await rpc(c, "Indevolt.GetData", {"t": [6000, 6001]})
            assert r.json()["6001"] == 1002 and r.json()["6000"] == pytest.approx(700, abs=5)
            for bad in ([2, 30, 5], [2, 2500, 5], [1, 500, 101], [3, 500, 50]):  # power 50-2400, SOC 5-100, state 0-2
                assert (await rpc(c, "Indevolt.SetData", {"f": 16, "t": 47015, "v": bad})).json() == {"result": False}
            assert (await rpc(c, "Indevolt.SetData", {"f": 16, "t": 1142, "v": [20]})).json() == {"result": True}
            assert (await rpc(c, "Indevolt.GetData", {"t": [6105]})).json() == {"6105": 20}
            assert (await c.post("/rpc/Indevolt.GetData", params={"config": "{not json"})).status_code == 400
            info = (await c.get("/rpc/Sys.GetConfig")).json()["device"]
            assert info["sn"] == "SN123" and "type" in info and "fw" in info

    asyncio.run(scenario())


def test_target_soc_stops_the_device():
    async def scenario():
        emu = IndevoltEmulator(device(two_packs(main_soc=62, pack_soc=58)))  # total 60 %
        async with serving(emu) as port, httpx.AsyncClient(base_url=f"http://{LOOPBACK}:{port}", timeout=5) as c:
            await rpc(c, "Indevolt.SetData", {"f": 16, "t": 47005, "v": [4]})
            await rpc(c, "Indevolt.SetData", {"f": 16, "t": 47015, "v": [2, 800, 61]})  # discharge to 61 %: already below
            await asyncio.sleep(0.3)
            assert emu.device.snapshot().battery_power_w == 0.0
            await rpc(c, "Indevolt.SetData", {"f": 16, "t": 47015, "v": [1, 800, 61]})  # charge to 61 %: goes
            await until(lambda: emu.device.snapshot().battery_power_w < -795)

    asyncio.run(scenario())


def test_digest_auth_challenge_and_a_good_response():
    async def scenario():
        emu = IndevoltEmulator(device(), password="pw")
        async with serving(emu) as port:
            base = f"http://{LOOPBACK}:{port}"
            async with httpx.AsyncClient(base_url=base, timeout=5) as c:
                r = await rpc(c, "Indevolt.GetData", {"t": [6002]})
                assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Digest ")
                assert 'qop="auth"' in r.headers["www-authenticate"]
            async with httpx.AsyncClient(base_url=base, timeout=5, auth=httpx.DigestAuth("opend", "wrong")) as c:
                assert (await rpc(c, "Indevolt.GetData", {"t": [6002]})).status_code == 401
            async with httpx.AsyncClient(base_url=base, timeout=5, auth=httpx.DigestAuth("opend", "pw")) as c:
                assert (await rpc(c, "Indevolt.GetData", {"t": [6002]})).json() == {"6002": 60.0}

    asyncio.run(scenario())
