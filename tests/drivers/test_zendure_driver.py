"""The Zendure driver against the Zendure emulator over real HTTP on 127.0.0.1; its request body as a property."""

from __future__ import annotations

import asyncio
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socbal.drivers.base import DriverError
from socbal.drivers.zendure_http import MAX_BODY_BYTES, MODEL_LIMITS_W, ZendureConfig, ZendureDriver, clamp_setpoint_w, write_body
from socbal.emulators.zendure import ZendureEmulator
from tests.emulators.harness import LOOPBACK, device, serving, until

SERIAL = "HOA1NHMAMXXXXX3"


def driver(port: int, **over) -> ZendureDriver:
    raw = {"host": LOOPBACK, "port": port, "serial": SERIAL, "mode_change_interval_s": 0.0}
    raw["pacing"] = {"min_write_interval_s": 0.0}
    raw.update(over)
    return ZendureDriver(ZendureConfig.model_validate(raw))


def test_reads_all_telemetry_and_writes_every_control():
    async def scenario():
        emu = ZendureEmulator(device(), serial=SERIAL, stale_echo_s=0.3)
        async with serving(emu) as port:
            drv = driver(port)
            t = await drv.read()
            assert t.pack_soc_pct == (80.0, 40.0) and t.soc_pct == 60.0 and t.weakest_soc_pct == 40.0
            assert t.reserve_pct == 10.0 and t.max_discharge_w == 800.0 and t.setpoint_w == 0.0 and t.fault is None
            assert await drv.write(500.0)
            assert emu.writes[-1] == {"acMode": 2, "outputLimit": 500, "smartMode": 1}
            assert (await drv.read()).setpoint_w == 0.0  # the stale echo: the report still shows the old limit
            await until(lambda: emu.echo["outputLimit"] == 500)
            t = await drv.read()
            assert t.setpoint_w == 500.0
            await until(lambda: emu.device.snapshot().battery_power_w > 495)
            t = await drv.read()
            assert t.battery_power_w == pytest.approx(500, abs=5) and t.state == "discharging"
            assert await drv.write(-300.0)
            assert emu.writes[-1] == {"acMode": 1, "inputLimit": 300, "smartMode": 1}
            await until(lambda: emu.device.snapshot().battery_power_w < -295)
            assert (await drv.read()).state == "charging"
            assert await drv.write(-2000.0)  # clamped to the model's AC input limit
            assert emu.writes[-1]["inputLimit"] == 1000
            await drv.close()
            assert emu.writes[-1] == {"acMode": 1, "inputLimit": 0, "smartMode": 1}

    asyncio.run(scenario())


def test_direction_change_waits_for_the_mode_interval_at_zero_and_pacing_counts():
    async def scenario():
        emu = ZendureEmulator(device(), serial=SERIAL, stale_echo_s=0.0)
        async with serving(emu) as port:
            # a 2 s mode interval: the write below, 0.25 s after the first, stays inside it on a loaded machine too
            drv = driver(port, mode_change_interval_s=2.0, pacing={"min_write_interval_s": 0.2})
            await drv.write(400.0)
            await asyncio.sleep(0.25)
            await drv.write(-400.0)  # too soon for a mode change: held at 0 W in output mode
            assert emu.writes[-1] == {"acMode": 2, "outputLimit": 0, "smartMode": 1}
            loop = asyncio.get_running_loop()
            start = loop.time()
            while loop.time() - start < 2.0:
                await drv.write(-400.0)
                await asyncio.sleep(0.02)
            assert emu.writes[-1] == {"acMode": 1, "inputLimit": 400, "smartMode": 1}
            assert len(emu.writes) == 3  # 400, the hold at 0, then -400: nothing rewritten in between
            assert all(w.get("outputLimit", 0) >= 0 for w in emu.writes)
            await drv.close()

    asyncio.run(scenario())


def test_reboot_is_an_outage_then_the_flash_values_come_back():
    async def scenario():
        emu = ZendureEmulator(device(), serial=SERIAL, stale_echo_s=0.0, reboot_every_s=1.0, reboot_down_s=1.0)
        async with serving(emu) as port:
            drv = driver(port, timeout_s=0.5, retries=0)
            await drv.write(300.0)
            await until(lambda: emu.reboots == 1, timeout_s=3)
            with pytest.raises(DriverError):
                await drv.read()
            await until(lambda: emu.device.online(), timeout_s=3)
            t = await drv.read()
            assert t.setpoint_w == 0.0  # smartMode = 1 kept the 300 W out of flash
            await drv.close()

    asyncio.run(scenario())


def test_soc_scale_reads_tenths_of_a_percent():
    async def scenario():
        emu = ZendureEmulator(device(), serial=SERIAL, soc_scale=10)
        async with serving(emu) as port:
            assert emu.props["minSoc"] == 100
            drv = driver(port, soc_scale=10)
            assert (await drv.read()).reserve_pct == 10.0
            await drv.close()

    asyncio.run(scenario())


@given(st.floats(-1e5, 1e5, allow_nan=False), st.sampled_from(sorted(MODEL_LIMITS_W)), st.text(min_size=1, max_size=40))
def test_body_is_never_a_negative_limit_and_fits_512_bytes(setpoint_w, model, serial):
    max_output_w, max_input_w = MODEL_LIMITS_W[model]
    value = clamp_setpoint_w(setpoint_w, max_output_w, max_input_w)
    assert -max_input_w <= value <= max_output_w
    body = write_body(serial, 2 if value > 0 else 1, int(abs(value)))
    props = json.loads(body)["properties"]
    assert len(body) <= MAX_BODY_BYTES and props["smartMode"] == 1
    assert props.get("outputLimit", 0) >= 0 and props.get("inputLimit", 0) >= 0
    with pytest.raises(ValueError):
        write_body(serial, 2, -1)


def test_a_body_over_512_bytes_is_refused():
    with pytest.raises(ValueError, match="512"):
        write_body("S" * 500, 2, 100)
