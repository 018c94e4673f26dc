"""End to end on loopback: `socbal emulate` (pymodbus server), a mosquitto broker, and the runtime driving them.

Fault injection: a pack going silent, a lost Modbus connection, garbage payloads,
settings out of range, a broker restart; and the event log and settings survive
a runtime restart.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import aiomqtt
import pytest

from socbal.runtime.config import MqttConfig
from socbal.runtime.emulator import EmulatedDevice, serve
from socbal.runtime.service import Runtime
from socbal.scenario import load_scenario
from tests.emulators.harness import LoopLag

from .conftest import EXAMPLES, LOOPBACK, SUBPROCESS_START_S, free_port, runtime_config, stop_all, wait_for_port, wait_until


def spread(plan) -> float:
    values = list(plan.soc_pct.values())
    return max(values) - min(values) if len(values) > 1 else float("nan")


@pytest.fixture
def emulator_process():
    """`socbal emulate` (80/40 %, 900 W) on a free loopback port at 1800x; stopped after the test."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "socbal",
            "emulate",
            str(EXAMPLES / "emulate_80_40.toml"),
            "--host",
            LOOPBACK,
            "--modbus-port",
            str(port),
            "--speed",
            "1800",
            "--tick-s",
            "0.05",
            "--watchdog-s",
            "2",
            "--duration-s",
            "110",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_port(port, timeout_s=SUBPROCESS_START_S)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.mark.timeout(120)
def test_runtime_drives_socbal_emulate_over_modbus_and_keeps_its_log(tmp_path, emulator_process):
    cfg = runtime_config(tmp_path, modbus_port=emulator_process)

    async def drive(rt: Runtime, seconds: float, until=lambda plans: False) -> list:
        """Run the runtime for ``seconds`` (or up to 8x that on a loaded machine, until ``until(plans)``)."""
        stop = asyncio.Event()
        task = asyncio.create_task(rt.run(stop))
        plans = []
        await wait_until(lambda: rt.last_plan is not None and len(rt.last_plan.soc_pct) == 2, 30, "both packs online")
        t_min, t_max = time.monotonic() + seconds, time.monotonic() + 8 * seconds
        while time.monotonic() < t_min or (time.monotonic() < t_max and not until(plans)):
            await asyncio.sleep(0.1)
            if rt.last_plan is not None and len(rt.last_plan.soc_pct) == 2:
                plans.append(rt.last_plan)
        stop.set()
        await asyncio.wait_for(task, 10)
        return plans

    rt = Runtime(cfg)
    plans = asyncio.run(drive(rt, 3.0, until=lambda p: len(p) > 1 and spread(p[-1]) < 25))
    assert plans, "the runtime never saw both packs online"
    working = [p for p in plans if sum(p.setpoints_w.values()) > 0]  # once the device's load is read
    assert working, "the runtime never commanded any power"
    first, last = working[0], working[-1]
    assert first.setpoints_w["main"] > first.setpoints_w["p1"] > 0  # higher SOC gives more
    assert spread(first) > 30 and spread(last) < spread(first) - 5, (spread(first), spread(last))
    rt2 = Runtime(cfg)  # a restart (run() closed the store)
    before = rt2.store.events()
    kinds = [e["kind"] for e in before]
    assert kinds[0] == "start" and "setpoints" in kinds and kinds[-1] == "stop"
    rt2.settings.propose({"backup_reserve_pct": 35}, "test")
    asyncio.run(drive(rt2, 0.5))
    rt3 = Runtime(cfg)  # second restart: everything logged so far is still there, and the setting stuck
    after = rt3.store.events()
    assert after[: len(before)] == before and len(after) > len(before)
    assert rt3.settings.current.backup_reserve_pct == 35
    rt3.store.close()


@pytest.mark.timeout(60)
def test_silent_pack_and_lost_modbus_connection(tmp_path):
    port = free_port()
    cfg = runtime_config(tmp_path, modbus_port=port)
    device = EmulatedDevice(load_scenario(EXAMPLES / "emulate_80_40.toml"), speed=60.0, watchdog_s=1.0)

    async def scenario() -> None:
        stop_dev, stop_rt = asyncio.Event(), asyncio.Event()
        dev_task = asyncio.create_task(serve(device, stop_dev, host=LOOPBACK, modbus_port=port, tick_s=0.05))
        rt = Runtime(cfg)
        rt_task = asyncio.create_task(rt.run(stop_rt))
        try:
            await wait_until(lambda: rt.last_plan is not None and rt.last_plan.setpoints_w["p1"] > 0, 10, "p1 online")
            # a pack going silent: its counter freezes -> offline, setpoint 0, the other takes the load
            device.silent.add("p1")
            await wait_until(lambda: "p1" in rt.faults.active, 5, "p1 stale")
            assert rt.last_plan.setpoints_w["p1"] == 0.0 and rt.last_plan.setpoints_w["main"] == pytest.approx(900.0)
            await wait_until(lambda: device.power_w[1] == 0.0, 5, "device p1 at 0")
            device.silent.discard("p1")  # it comes back and rejoins
            await wait_until(lambda: rt.last_plan.setpoints_w["p1"] > 0, 5, "p1 rejoins")
            # the Modbus server goes away: link fault, then the device watchdog (1 s) holds it at 0
            stop_dev.set()
            await asyncio.wait_for(dev_task, 10)
            await wait_until(lambda: "link" in rt.faults.active, 5, "link fault")
            assert all(v == 0.0 for v in rt.last_plan.setpoints_w.values())
            stop_dev.clear()
            device.step(0.0)
            dev_task = asyncio.create_task(serve(device, stop_dev, host=LOOPBACK, modbus_port=port, tick_s=0.05))
            await wait_until(
                lambda: "link" not in rt.faults.active and rt.last_plan.setpoints_w["p1"] > 0, 10, "reconnect with backoff"
            )
            # the runtime stops: the device watchdog trips and every pack falls back to 0
            stop_rt.set()
            await asyncio.wait_for(rt_task, 10)
            await wait_until(lambda: device.watchdog_tripped and not any(device.power_w), 5, "watchdog")
        finally:
            await stop_all((stop_rt, stop_dev), (rt_task, dev_task))

    asyncio.run(scenario())
    rt = Runtime(cfg)
    kinds = [(e["kind"], e["pack_id"]) for e in rt.store.events()]
    rt.store.close()
    assert ("fault", "p1") in kinds and ("recovered", "p1") in kinds
    assert sum(1 for k, _ in kinds if k == "link") >= 2  # lost and restored


@pytest.mark.timeout(60)
def test_mqtt_link_discovery_settings_garbage_and_broker_restart(tmp_path, broker, monkeypatch):
    cfg = runtime_config(tmp_path, link="mqtt", mqtt_port=broker.port)
    device = EmulatedDevice(load_scenario(EXAMPLES / "emulate_80_40.toml"), speed=60.0, watchdog_s=1.0)
    dev_mqtt = MqttConfig(host=LOOPBACK, port=broker.port, base_topic="test/dev", client_id="emu", keepalive_s=5)
    base = "test/dev"

    async def publish(topic: str, payload: bytes | str) -> None:
        async with aiomqtt.Client(LOOPBACK, broker.port, identifier="tester") as c:
            await c.publish(topic, payload, qos=1)

    async def retained(prefix: str) -> dict:
        got = {}
        async with aiomqtt.Client(LOOPBACK, broker.port, identifier="reader") as c:
            await c.subscribe(f"{prefix}/#")
            try:
                async with asyncio.timeout(1.0):
                    async for m in c.messages:
                        got[str(m.topic)] = m.payload
            except TimeoutError:
                pass
        return got

    async def scenario() -> None:
        stop_dev, stop_rt = asyncio.Event(), asyncio.Event()
        dev_task = asyncio.create_task(serve(device, stop_dev, modbus_port=None, mqtt=dev_mqtt, tick_s=0.05))
        rt = Runtime(cfg)
        rt_task = asyncio.create_task(rt.run(stop_rt))
        try:
            await wait_until(
                lambda: rt.last_plan is not None and len(rt.last_plan.soc_pct) == 2 and not device.watchdog_tripped,
                10,
                "runtime drives the device over MQTT",
            )
            await wait_until(lambda: device.power_w[0] > device.power_w[1] > 0, 5, "higher SOC gives more")
            disc = await retained("homeassistant")
            assert {
                "homeassistant/sensor/socbal_test/main_soc/config",
                "homeassistant/number/socbal_test/backup_reserve/config",
                "homeassistant/select/socbal_test/strategy/config",
            } <= set(disc)
            # settings over MQTT: out of range is rejected, a good one applied on the next cycle
            await publish(f"{base}/settings/backup_reserve_pct/set", "150")
            await publish(f"{base}/settings/strategy/set", "bogus")
            await publish(f"{base}/settings/backup_reserve_pct/set", "20")
            await wait_until(lambda: rt.settings.current.backup_reserve_pct == 20, 5, "reserve 20 applied")
            assert rt.settings.current.strategy == "spec"
            # garbage on a pack topic (while the device itself is silent for that pack)
            device.silent.add("p1")
            await asyncio.sleep(0.2)
            await publish(f"{base}/device/packs/p1/telemetry", b"\x00garbage{")
            await wait_until(lambda: rt.faults.active.get("p1", "").startswith("garbage"), 5, "garbage fault")
            assert rt.last_plan.setpoints_w["p1"] == 0.0
            device.silent.discard("p1")
            await wait_until(lambda: "p1" not in rt.faults.active, 5, "p1 rejoins")
            # broker restart: the link is lost, the device watchdog goes to 0, then everything reconnects
            connects = rt.mqtt.connects
            broker.stop()
            async with LoopLag() as lag:  # the next cycle shows the fault; a stalled loop runs it late
                stopped_s = time.monotonic()
                await wait_until(lambda: "link" in rt.faults.active, 15, "link fault")
                took_s = time.monotonic() - stopped_s
            # not after an acknowledgement's 5 s timeout: a publish in flight when the broker died held the cycle up
            assert took_s < 2.0 + lag.late_s, (took_s, lag.late_s)
            await wait_until(lambda: device.watchdog_tripped and not any(device.power_w), 5, "device safe")
            broker.start()
            await wait_until(
                lambda: rt.mqtt.connects > connects and not device.watchdog_tripped and rt.last_plan.setpoints_w["p1"] > 0,
                15,
                "reconnected",
            )
        finally:
            await stop_all((stop_rt, stop_dev), (rt_task, dev_task))

    asyncio.run(scenario())
    rt = Runtime(cfg)
    events = rt.store.events()
    rt.store.close()
    kinds = [e["kind"] for e in events]
    assert kinds.count("rejected") == 2 and "setting" in kinds
    assert any(e["kind"] == "fault" and e["message"].startswith("p1: garbage") for e in events)
    assert any(e["kind"] == "link" and "lost" in e["message"] for e in events)
