"""The runtime's broker connection against a real mosquitto: what a lost broker does to a publish in flight."""

from __future__ import annotations

import asyncio
import signal
import time

from socbal.runtime.service import Runtime
from tests.emulators.harness import LoopLag

from .conftest import runtime_config, wait_until


def test_a_broker_lost_while_a_state_publish_waits_for_its_ack_ends_the_wait_at_once(tmp_path, broker):
    """The control cycle awaits the state publish; a QoS-1 value in it waits for the broker's acknowledgement. With the
    broker gone that wait must end with the connection, not after aiomqtt's 5 s timeout (the cycle, its link fault and
    its setpoints held up meanwhile)."""
    cfg = runtime_config(tmp_path, link="mqtt", mqtt_port=broker.port)
    rt = Runtime(cfg)

    async def scenario() -> None:
        mqtt = rt.mqtt
        assert mqtt is not None
        run = asyncio.create_task(mqtt.run())
        try:
            await wait_until(lambda: mqtt.connected, 10, "connected")
            broker.proc.send_signal(signal.SIGSTOP)  # alive but silent: no acknowledgement comes
            publish = asyncio.create_task(mqtt.publish_state({"energy_kwh": {"battery_out": 1.0}}))
            await asyncio.sleep(0.5)
            assert not publish.done(), "the publish did not wait for an acknowledgement: this test shows nothing"
            broker.proc.kill()  # its sockets close: the connection ends
            broker.proc.wait(timeout=5)
            broker.proc = None
            killed_s = time.monotonic()
            async with LoopLag() as lag:
                await asyncio.wait_for(publish, 10)  # publish_state swallows the MqttError
            took_s = time.monotonic() - killed_s
            assert took_s < 1.0 + lag.late_s, f"the state publish waited {took_s:.2f} s after the broker was gone"
            assert not mqtt.connected
        finally:
            run.cancel()
            await asyncio.wait([run], timeout=5)

    try:
        asyncio.run(scenario())
    finally:
        rt.close()
