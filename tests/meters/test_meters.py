"""Meters against the meter emulators (HTTP) and a mosquitto broker (MQTT) on 127.0.0.1; and the emulators
against plain HTTP requests written from the Shelly Gen2 EM and HomeWizard v1 API documentation."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

import aiomqtt
import httpx
import pytest

from socbal.errors import InputError
from socbal.meters.base import MeterError
from socbal.meters.registry import meter_config, open_meter
from tests.meters.harness import serving_meter
from tests.runtime.conftest import LOOPBACK, Broker, mosquitto_binary


@pytest.mark.parametrize(
    ("kind", "path", "field"),
    [("shelly-pro-3em", "/rpc/EM.GetStatus?id=0", "total_act_power"), ("homewizard-p1", "/api/v1/data", "active_power_w")],
)
def test_http_meter_emulators_answer_the_documented_field(kind, path, field):
    async def scenario():
        async with serving_meter(kind, lambda: -432.0) as (_, port):
            async with httpx.AsyncClient(base_url=f"http://{LOOPBACK}:{port}") as c:
                assert (await c.get(path)).json()[field] == -432.0

    asyncio.run(scenario())


@pytest.mark.parametrize("kind", ["shelly-pro-3em", "homewizard-p1"])
def test_http_meter_period_staleness_and_timestamp(kind):
    async def scenario():
        grid = {"w": 750.0}
        async with serving_meter(kind, lambda: grid["w"]) as (app, port):
            # period 0.5 s: the period counts from when a poll began, so a first poll slower than the period (a loaded
            # machine's round trip took over 0.2 s) would make the next read a new poll
            meter = open_meter(
                meter_config({"kind": kind, "host": LOOPBACK, "port": port, "period_s": 0.5, "stale_after_s": 1.0})
            )
            first = await meter.read()
            assert first.grid_power_w == 750.0 and first.age_s() < 0.2
            grid["w"] = -120.0
            assert (await meter.read()) is first  # within the period: no new request
            await asyncio.sleep(0.55)
            second = await meter.read()
            assert second.grid_power_w == -120.0 and second.time_s > first.time_s
            assert app.state.requests == 2
        # The meter is gone: the last reading serves until it is stale, then an error.
        await asyncio.sleep(0.5)
        assert (await meter.read()).grid_power_w == -120.0
        await asyncio.sleep(0.6)
        with pytest.raises(MeterError, match="no reading newer than 1 s"):
            await meter.read()
        await meter.close()

    asyncio.run(scenario())


def test_http_meter_polls_a_period_after_the_previous_poll_began_not_after_its_answer():
    # A meter that takes 0.15 s to answer, period 0.3 s: a caller that asks again 0.3 s after the first poll began
    # gets a new reading (timing the period from the answer would give one every 0.45 s, or, for a controller asking
    # every half period, one every 1.5 periods).
    async def scenario():
        def slow_grid() -> float:
            time.sleep(0.15)
            return 100.0

        async with serving_meter("shelly-pro-3em", slow_grid) as (app, port):
            meter = open_meter(meter_config({"kind": "shelly-pro-3em", "host": LOOPBACK, "port": port, "period_s": 0.3}))
            began = time.monotonic()
            first = await meter.read()
            await asyncio.sleep(max(began + 0.3 - time.monotonic(), 0.0))
            second = await meter.read()
            assert second is not first and app.state.requests == 2
            await meter.close()

    asyncio.run(scenario())


@pytest.fixture
def broker(tmp_path):
    binary = mosquitto_binary()
    if binary is None:
        pytest.skip("mosquitto is not installed")
    b = Broker(binary, tmp_path)
    b.start()
    yield b
    b.stop()


def test_mqtt_meter_number_json_invert_and_staleness(broker):
    async def scenario():
        meter = open_meter(
            meter_config(
                {
                    "kind": "mqtt",
                    "broker": {"port": broker.port},
                    "topic": "home/grid",
                    "json_key": "power",
                    "invert": True,
                    "stale_after_s": 0.5,
                }
            )
        )
        with pytest.raises(MeterError):
            await meter.read()  # nothing yet (and the subscription starts)
        async with aiomqtt.Client(LOOPBACK, port=broker.port) as pub:
            await asyncio.sleep(0.3)
            await pub.publish("home/grid", json.dumps({"power": 300}))
            await pub.publish("home/grid", b"garbage")
            for _ in range(50):
                with contextlib.suppress(MeterError):
                    if (await meter.read()).grid_power_w == -300.0:
                        break
                await asyncio.sleep(0.02)
            assert (await meter.read()).grid_power_w == -300.0  # inverted: the sensor counts export positive
            await asyncio.sleep(0.3)
            assert meter.ignored == 1
            await asyncio.sleep(0.3)
            with pytest.raises(MeterError, match="nothing on home/grid"):
                await meter.read()
        await meter.close()

    asyncio.run(scenario())


def test_bad_meter_section_names_the_field():
    with pytest.raises(InputError, match=r"meter.*period_s"):
        meter_config({"kind": "shelly-pro-3em", "host": "x", "period_s": 0})
    with pytest.raises(InputError, match="kind"):
        meter_config({"kind": "landis-gyr", "host": "x"})
