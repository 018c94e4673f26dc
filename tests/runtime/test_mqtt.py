"""The runtime's broker connection against a real mosquitto: what a lost broker does to a publish in flight."""

from __future__ import annotations

import asyncio

from socbal.runtime.service import Runtime

from .conftest import assert_a_lost_broker_ends_the_state_publish, runtime_config


def test_a_broker_lost_while_a_state_publish_waits_for_its_ack_ends_the_wait_at_once(tmp_path, broker):
    """The control cycle awaits the state publish; a QoS-1 value in it waits for the broker's acknowledgement. With the
    broker gone that wait must end with the connection, not after aiomqtt's 5 s timeout (the cycle, its link fault and
    its setpoints held up meanwhile)."""
    cfg = runtime_config(tmp_path, link="mqtt", mqtt_port=broker.port)
    rt = Runtime(cfg)

    async def scenario() -> None:
        assert rt.mqtt is not None
        await assert_a_lost_broker_ends_the_state_publish(broker, rt.mqtt, {"energy_kwh": {"battery_out": 1.0}})

    try:
        asyncio.run(scenario())
    finally:
        rt.close()
