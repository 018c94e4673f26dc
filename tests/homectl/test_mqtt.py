"""The home controller over MQTT (mosquitto on 127.0.0.1): Home Assistant discovery per device, each device's values,
and settings at run time with a shared token."""

from __future__ import annotations

import asyncio
import contextlib
import json

import aiomqtt

from socbal.emulators.indevolt import IndevoltEmulator
from socbal.emulators.zendure import ZendureEmulator
from socbal.homectl.controller import HomeController
from tests.emulators.harness import LOOPBACK, device, two_packs, until
from tests.homectl.harness import config, device_entry, grid_w, home, running
from tests.runtime.conftest import assert_a_lost_broker_ends_the_state_publish, broker  # noqa: F401 - the fixture
from tests.runtime.ha_schema import validate_discovery


def test_discovery_per_device_values_and_token_settings(tmp_path, broker, monkeypatch):  # noqa: F811
    monkeypatch.setenv("HOME_MQTT_TOKEN", "token-for-the-home-tests")

    async def scenario():
        emus = [IndevoltEmulator(device(two_packs(load_w=1200))), ZendureEmulator(device(two_packs()))]
        async with home(emus) as (ports, meter_port):
            entries = [device_entry(emus[0], ports[0], "ind"), device_entry(emus[1], ports[1], "zen")]
            mqtt = {"host": LOOPBACK, "port": broker.port, "base_topic": "test/home", "settings_token_env": "HOME_MQTT_TOKEN"}
            ctl = HomeController.from_config(config(tmp_path, entries, meter_port, mqtt=mqtt))
            seen: dict[str, str] = {}
            async with aiomqtt.Client(LOOPBACK, broker.port, identifier="watcher") as client:
                await client.subscribe([("homeassistant/#", 0), ("test/home/#", 0)])

                async def watch() -> None:
                    async for message in client.messages:
                        seen[str(message.topic)] = bytes(message.payload).decode()  # type: ignore[arg-type]

                watcher = asyncio.create_task(watch())
                async with running(ctl):
                    await until(lambda: "test/home/devices/zen/setpoint_w" in seen and abs(grid_w(emus)) < 30, timeout_s=10)
                    configs = {t: json.loads(p) for t, p in seen.items() if t.startswith("homeassistant/") and p}
                    for topic, payload in configs.items():
                        validate_discovery(topic, payload)  # Home Assistant's own discovery rules
                    for dev in ("ind", "zen"):
                        node = f"socbal_testhome_{dev}"
                        for field in ("soc_pct", "weakest_soc_pct", "power_w", "setpoint_w", "state"):
                            entity = configs[f"homeassistant/sensor/{node}/{field}/config"]
                            assert entity["state_topic"] == f"test/home/devices/{dev}/{field}"
                            assert entity["device"]["identifiers"] == [node]
                            assert entity["device"]["via_device"] == "socbal_testhome"  # reached through the home
                        assert configs[f"homeassistant/binary_sensor/{node}/online/config"]["device_class"] == "connectivity"
                    assert not any("/select/" in t or "/number/" in t for t in configs)  # a token: no HA command entities
                    assert seen["test/home/devices/ind/weakest_soc_pct"] == "40"  # the emptier of its two packs
                    assert seen["test/home/devices/zen/online"] == "ON" and seen["test/home/runtime/status"] == "online"
                    await client.publish("test/home/settings/grid_target_w/set", "200")  # refused: a token is configured
                    await client.publish("test/home/settings/set", json.dumps({"grid_target_w": 250, "token": "wrong"}))
                    good = {"grid_target_w": -150, "token": "token-for-the-home-tests"}
                    await client.publish("test/home/settings/set", json.dumps(good))
                    await until(lambda: ctl.settings.current.grid_target_w == -150, timeout_s=5)
                    await until(lambda: abs(grid_w(emus) + 150) < 30, timeout_s=8)
                    await until(lambda: seen.get("test/home/settings/grid_target_w") == "-150", timeout_s=5)
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                    await watcher

    asyncio.run(scenario())


def test_a_broker_lost_while_the_home_state_waits_for_its_ack_ends_the_wait_at_once(tmp_path, broker):  # noqa: F811
    """The home controller's cycle awaits its state publish, whose per-device values are QoS 1: with the broker gone
    the wait ends with the connection, not after aiomqtt's 5 s timeout (no cycle, no fail-safe meanwhile)."""

    async def scenario():
        emus = [IndevoltEmulator(device(two_packs())), ZendureEmulator(device(two_packs()))]
        async with home(emus) as (ports, meter_port):
            entries = [device_entry(emus[0], ports[0], "ind"), device_entry(emus[1], ports[1], "zen")]
            mqtt_cfg = {"host": LOOPBACK, "port": broker.port, "base_topic": "test/lost"}
            ctl = HomeController.from_config(config(tmp_path, entries, meter_port, mqtt=mqtt_cfg))
            assert ctl.mqtt is not None
            try:
                await assert_a_lost_broker_ends_the_state_publish(broker, ctl.mqtt, ctl.state())
            finally:
                ctl.close()

    asyncio.run(scenario())
