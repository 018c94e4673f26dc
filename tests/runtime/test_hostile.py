"""The runtime under hostile input, on loopback: a real mosquitto, the real emulator, uvicorn and SQLite.

Each test names the item of the robustness issue it covers: poisoned MQTT
payloads and a dying task (1), floods and a settings token (3), retained
commands (4), the HTTP API's limits (5), stale data at start (6), Home
Assistant availability (7) and a clean start (8).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time

import aiomqtt
import httpx
import pytest

from socbal.runtime.config import MqttConfig
from socbal.runtime.emulator import EmulatedDevice, serve
from socbal.runtime.mqtt import MqttService, UndatedReading, parse_pack_payload
from socbal.runtime.service import Runtime
from socbal.runtime.telemetry import pack_fault

from .conftest import LOOPBACK, emulated_device, free_port, runtime_config, stop_all, wait_until

BASE = "test/dev"
pytestmark = pytest.mark.timeout(90)


def driving(rt: Runtime, device: EmulatedDevice) -> bool:
    """Both packs online in the runtime and the device following its setpoints."""
    return rt.last_plan is not None and len(rt.last_plan.soc_pct) == 2 and not device.watchdog_tripped


@contextlib.asynccontextmanager
async def mqtt_rig(cfg, broker, device: EmulatedDevice | None = None, runtime: Runtime | None = None):
    """The runtime (link = mqtt) and an in-process emulator on one broker; both stopped on exit."""
    device = device if device is not None else emulated_device()
    dev_mqtt = MqttConfig(host=LOOPBACK, port=broker.port, base_topic=BASE, client_id="emu", keepalive_s=5)
    stop_dev, stop_rt = asyncio.Event(), asyncio.Event()
    dev_task = asyncio.create_task(serve(device, stop_dev, modbus_port=None, mqtt=dev_mqtt, tick_s=0.05))
    rt = runtime if runtime is not None else Runtime(cfg)
    rt_task = asyncio.create_task(rt.run(stop_rt))
    try:
        yield rt, device
    finally:
        await stop_all((stop_rt, stop_dev), (rt_task, dev_task))


async def publish(port: int, messages, qos: int = 1) -> None:
    """Publish ``(topic, payload[, retain])`` messages from one test client."""
    async with aiomqtt.Client(LOOPBACK, port, identifier=f"tester-{time.monotonic_ns()}") as c:
        for topic, payload, *retain in messages:
            await c.publish(topic, payload, qos=qos, retain=bool(retain and retain[0]))


async def retained(port: int, topic: str) -> dict[str, bytes]:
    """Retained messages under ``topic`` (a filter) right now."""
    got: dict[str, bytes] = {}
    async with aiomqtt.Client(LOOPBACK, port, identifier=f"reader-{time.monotonic_ns()}") as c:
        await c.subscribe(topic)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.7):
                async for m in c.messages:
                    got[str(m.topic)] = m.payload if isinstance(m.payload, bytes) else str(m.payload).encode()
    return got


def events_of(cfg) -> list[dict]:
    rt = Runtime(cfg)
    try:
        return rt.store.events(limit=100_000)
    finally:
        rt.close()


# --- 1: no payload can end a task; a task that dies is restarted and reported ---------------------


def test_poisoned_payloads_neither_stop_the_runtime_nor_the_emulator(tmp_path, broker):
    cfg = runtime_config(tmp_path, link="mqtt", mqtt_port=broker.port)
    deep = b"[" * 1500 + b"]" * 1500  # under the size limit, far over the depth limit
    huge_int = b'{"soc_pct": ' + b"9" * 310 + b', "power_w": 0, "max_discharge_w": 1, "max_charge_w": 1}'
    many_digits = b'{"backup_reserve_pct": ' + b"1" * 4301 + b"}"
    hostile = [
        (f"{BASE}/device/packs/p1/telemetry", deep),
        (f"{BASE}/device/packs/main/telemetry", huge_int),
        (f"{BASE}/device/telemetry", b'{"pv_w": 1e999999, "load_w": ' + b"[" * 900 + b"]" * 900 + b"}"),
        (f"{BASE}/settings/set", many_digits),
        (f"{BASE}/settings/set", b'{"backup_reserve_pct": ' + b"7" * 3000 + b"}"),
        (f"{BASE}/settings/set", deep),
        (f"{BASE}/device/setpoints", deep),  # for the emulator
        (f"{BASE}/device/setpoints", b'{"packs": {"main": ' + b"9" * 400 + b'}, "watchdog_s": 5}'),
        (f"{BASE}/device/setpoints", b'{"packs": [1, 2], "watchdog_s": true}'),
    ]

    async def scenario() -> None:
        async with mqtt_rig(cfg, broker) as (rt, device):
            await wait_until(lambda: driving(rt, device), 15, "runtime drives the device")
            connects = rt.mqtt.connects
            await publish(broker.port, hostile)
            await asyncio.sleep(1.5)  # several watchdog periods (1 s) of the device
            await wait_until(lambda: driving(rt, device) and device.power_w[0] > 0, 5, "still driving after the payloads")
            assert rt.mqtt.connects == connects, "the MQTT connection was lost"
            assert rt.supervisor.health["mqtt"].restarts == 0 and rt.supervisor.health["mqtt"].running
            assert rt.settings.current.backup_reserve_pct == 10
            last = device.last_setpoint_s
            await asyncio.sleep(0.5)
            assert device.last_setpoint_s > last, "the emulator stopped taking setpoints"

    asyncio.run(scenario())
    rejected = [e["message"] for e in events_of(cfg) if e["kind"] == "rejected"]
    assert any("nested" in m for m in rejected) and any("bytes refused" in m for m in rejected)
    assert all(len(m) <= 500 for m in rejected)


def test_a_dying_mqtt_task_is_restarted_logged_and_shown(tmp_path, broker, monkeypatch):
    cfg = runtime_config(tmp_path, link="mqtt", mqtt_port=broker.port)
    real_serve = MqttService._serve
    calls = {"n": 0}

    async def serve_then_crash(self, client):
        calls["n"] += 1
        if calls["n"] == 1:  # the first connection dies of a bug after a while
            task = asyncio.create_task(real_serve(self, client))
            await asyncio.sleep(1.0)
            task.cancel()
            await asyncio.wait([task])
            raise RuntimeError("simulated bug in the MQTT task")
        await real_serve(self, client)

    monkeypatch.setattr(MqttService, "_serve", serve_then_crash)
    statuses: list[bytes] = []

    async def watch_status(stop: asyncio.Event) -> None:
        async with aiomqtt.Client(LOOPBACK, broker.port, identifier="status-watch") as c:
            await c.subscribe(f"{BASE}/runtime/status")
            async for m in c.messages:
                statuses.append(m.payload)
                if stop.is_set():
                    return

    async def scenario() -> None:
        stop_watch = asyncio.Event()
        watcher = asyncio.create_task(watch_status(stop_watch))
        async with mqtt_rig(cfg, broker) as (rt, device):
            await wait_until(
                lambda: rt.state()["tasks"].get("mqtt", {}).get("restarts") == 1, 15, "the task died and was restarted"
            )
            await wait_until(lambda: rt.mqtt.connects >= 2 and driving(rt, device), 15, "driving again after the restart")
            tasks = rt.state()["tasks"]
            assert tasks["mqtt"]["running"] and "simulated bug" in tasks["mqtt"]["last_error"]
        stop_watch.set()
        watcher.cancel()
        await asyncio.wait([watcher], timeout=2)

    asyncio.run(scenario())
    first_online = statuses.index(b"online")
    assert b"offline" in statuses[first_online:], "the status topic never said the task was gone"
    assert statuses[statuses.index(b"offline", first_online) + 1 :].count(b"online") >= 1
    assert any(e["kind"] == "fault" and "task mqtt died" in e["message"] for e in events_of(cfg))


# --- 3: floods are bounded; telemetry is never starved; a settings token -------------------------


def test_settings_flood_does_not_starve_telemetry_or_fill_the_database(tmp_path, broker):
    cfg = runtime_config(tmp_path, link="mqtt", mqtt_port=broker.port)
    pad = "x" * 1000
    flood = [(f"{BASE}/settings/set", json.dumps({"backup_reserve_pct": 20 + i % 50, "pad": pad})) for i in range(3000)]
    flood.insert(1500, (f"{BASE}/settings/set", b"{" + b'"a": 1,' * 15000 + b'"b": 2}'))  # ~100 kB
    flood.append((f"{BASE}/settings/backup_reserve_pct/set", "30"))  # after the burst: rate-limited away or applied

    async def scenario() -> tuple[int, int]:
        async with mqtt_rig(cfg, broker) as (rt, device):
            await wait_until(lambda: driving(rt, device), 15, "runtime drives the device")
            assert rt.store.flush()
            size_before = cfg.runtime.state_db.stat().st_size
            offline_seen: list[dict] = []

            async def watch() -> None:
                while True:
                    faults = {k: v for k, v in rt.faults.active.items() if k in ("main", "p1", "device")}
                    if faults:
                        offline_seen.append(faults)
                    await asyncio.sleep(0.02)

            watcher = asyncio.create_task(watch())
            t0 = time.monotonic()
            await publish(broker.port, flood, qos=0)
            await asyncio.sleep(1.0)
            watcher.cancel()
            assert not offline_seen, f"packs went offline during the flood: {offline_seen[:3]}"
            assert driving(rt, device)
            assert time.monotonic() - t0 < 20
            assert rt.store.flush()
            return size_before, cfg.runtime.state_db.stat().st_size

    size_before, size_after = asyncio.run(scenario())
    assert size_after - size_before < 300_000, (size_before, size_after)
    rejected = [e for e in events_of(cfg) if e["kind"] == "rejected"]
    assert 0 < len(rejected) < 100
    assert max(len(e["message"]) + len(json.dumps(e["data"])) for e in rejected) < 1200  # stored once, cut short


def test_with_a_settings_token_only_messages_that_carry_it_change_settings(tmp_path, broker, monkeypatch):
    monkeypatch.setenv("SOCBAL_TEST_SETTINGS_TOKEN", "s3cret-token")
    cfg = runtime_config(tmp_path, link="mqtt", mqtt_port=broker.port, mqtt={"settings_token_env": "SOCBAL_TEST_SETTINGS_TOKEN"})

    async def scenario() -> None:
        rt = Runtime.from_config(cfg)
        async with mqtt_rig(cfg, broker, runtime=rt):
            await wait_until(lambda: rt.mqtt.connected, 10, "connected")
            await publish(
                broker.port,
                [
                    (f"{BASE}/settings/backup_reserve_pct/set", "30"),
                    (f"{BASE}/settings/set", json.dumps({"backup_reserve_pct": 31})),
                    (f"{BASE}/settings/set", json.dumps({"backup_reserve_pct": 32, "token": "wrong"})),
                ],
            )
            await asyncio.sleep(0.5)
            assert rt.settings.latest.backup_reserve_pct == 10
            await publish(
                broker.port, [(f"{BASE}/settings/set", json.dumps({"backup_reserve_pct": 40, "token": "s3cret-token"}))]
            )
            await wait_until(lambda: rt.settings.current.backup_reserve_pct == 40, 5, "the change with the token applied")
            disc = await retained(broker.port, "homeassistant/#")
            assert not any("/number/" in t or "/select/" in t for t in disc), "HA cannot carry the token: no command entities"

    asyncio.run(scenario())
    events = events_of(cfg)
    refused = [e["message"] for e in events if e["kind"] == "rejected"]
    assert len(refused) == 3 and sum("token" in m for m in refused) == 3
    assert all("s3cret-token" not in json.dumps(e) for e in events)


# --- 4: retained commands are not replayed -------------------------------------------------------


def test_a_retained_setting_command_is_not_applied_at_start_or_reconnect(tmp_path, broker):
    cfg = runtime_config(tmp_path, link="mqtt", mqtt_port=broker.port)

    async def scenario() -> None:
        await publish(broker.port, [(f"{BASE}/settings/backup_reserve_pct/set", "30", True)])
        async with mqtt_rig(cfg, broker) as (rt, device):
            await wait_until(lambda: driving(rt, device), 15, "runtime drives the device")
            rt.settings.propose({"backup_reserve_pct": 15}, "http")  # a later change elsewhere
            connects = rt.mqtt.connects
            broker.stop()
            broker.start()
            await wait_until(lambda: rt.mqtt.connects > connects and driving(rt, device), 15, "reconnected")
            await asyncio.sleep(0.5)
            assert rt.settings.current.backup_reserve_pct == 15

    asyncio.run(scenario())
    assert any(e["kind"] == "rejected" and "retained command ignored" in e["message"] for e in events_of(cfg))


# --- 5: the HTTP API checks the token first, caps bodies and answers, validates queries ---------


def _raw_request(port: int, head: str, body_chunks: list[bytes] = ()) -> str:
    """Send a request head (and maybe some body); return the status line the server answered (within 3 s)."""
    with socket.create_connection((LOOPBACK, port), timeout=3) as s:
        s.sendall(head.encode())
        with contextlib.suppress(OSError):
            for chunk in body_chunks:
                s.sendall(chunk)
        return s.recv(200).decode(errors="replace").split("\r\n", 1)[0]


def test_http_api_refuses_before_reading_and_bounds_everything(tmp_path, monkeypatch):
    monkeypatch.setenv("SOCBAL_TEST_API_TOKEN", "tok-123")
    cfg = runtime_config(
        tmp_path, modbus_port=free_port(), http={"token_env": "SOCBAL_TEST_API_TOKEN", "max_response_bytes": 20_000}
    )
    auth = {"Authorization": "Bearer tok-123"}

    def client_checks(port: int, rt: Runtime) -> None:
        head = "PATCH /settings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        assert " 401 " in _raw_request(port, head + "Content-Length: 100000000\r\n\r\n")  # no body sent: answered at once
        assert " 413 " in _raw_request(port, head + "Authorization: Bearer tok-123\r\nContent-Length: 100000000\r\n\r\n")
        chunk = b"10000\r\n" + b" " * 0x10000 + b"\r\n"  # chunked, no length given: 64 KiB chunks
        assert " 413 " in _raw_request(
            port, head + "Authorization: Bearer tok-123\r\nTransfer-Encoding: chunked\r\n\r\n", [chunk] * 4
        )
        with httpx.Client(base_url=f"http://{LOOPBACK}:{port}", timeout=5) as c:
            assert c.get("/events", params={"after_id": 10**20}, headers=auth).status_code == 422
            assert c.get("/events", params={"after_id": -1}, headers=auth).status_code == 422
            assert c.get("/events", params={"limit": 0}, headers=auth).status_code == 422
            assert c.get("/events", params={"kind": "bogus"}, headers=auth).status_code == 422
            r = c.patch("/settings", content=b"[" * 5000 + b"]" * 5000, headers=auth)
            assert r.status_code == 422 and "nested" in r.json()["detail"]
            r = c.patch("/settings", content=b'{"backup_reserve_pct": ' + b"1" * 5000 + b"}", headers=auth)
            assert r.status_code == 422
            for i in range(300):
                rt.store.log("fault", f"event {i} " + "y" * 400)
            assert rt.store.flush()
            r = c.get("/events", params={"limit": 10_000}, headers=auth)
            assert r.status_code == 200 and len(r.content) <= 25_000
            page = r.json()
            assert 10 < len(page) < 300
            nxt = c.get("/events", params={"after_id": page[-1]["id"], "limit": 10_000}, headers=auth).json()
            assert nxt[0]["id"] > page[-1]["id"]
            assert c.patch("/settings", json={"backup_reserve_pct": 30}, headers=auth).status_code == 200

    async def scenario() -> None:
        rt = Runtime.from_config(cfg)
        stop = asyncio.Event()
        task = asyncio.create_task(rt.run(stop))
        try:
            await wait_until(lambda: rt.http_port is not None, 10, "the API listens")
            await asyncio.to_thread(client_checks, rt.http_port, rt)
            await wait_until(lambda: rt.settings.current.backup_reserve_pct == 30, 5, "the good change applied")
        finally:
            await stop_all((stop,), (task,))

    asyncio.run(scenario())


# --- 6: stale data does not count as fresh at start ----------------------------------------------


def record_setpoints(rt: Runtime) -> list[dict]:
    """Every setpoint message the runtime sends from now on (its link's writes, recorded)."""
    sent: list[dict] = []
    write = rt.link.write

    async def spy(setpoints_w, watchdog_s):
        sent.append(dict(setpoints_w))
        return await write(setpoints_w, watchdog_s)

    rt.link.write = spy  # type: ignore[method-assign]
    return sent


def test_a_frozen_modbus_pack_gets_no_setpoint_at_start(tmp_path):
    port = free_port()
    cfg = runtime_config(tmp_path, modbus_port=port)
    device = emulated_device()
    device.silent.add("p1")  # its counter never moves: frozen from the start

    async def scenario() -> list[dict]:
        stop_dev, stop_rt = asyncio.Event(), asyncio.Event()
        dev_task = asyncio.create_task(serve(device, stop_dev, host=LOOPBACK, modbus_port=port, tick_s=0.05))
        await asyncio.sleep(0.3)
        rt = Runtime(cfg)
        sent = record_setpoints(rt)
        rt_task = asyncio.create_task(rt.run(stop_rt))
        try:
            await wait_until(lambda: any(s["main"] > 0 for s in sent), 10, "main driven")
            await asyncio.sleep(1.0)
            assert all(s["p1"] == 0.0 for s in sent), [s for s in sent if s["p1"]][:3]
            assert rt.faults.active["p1"].startswith("missing")
        finally:
            await stop_all((stop_rt, stop_dev), (rt_task, dev_task))
        return sent

    sent = asyncio.run(scenario())
    assert sent and all(s["p1"] == 0.0 for s in sent), [s for s in sent if s["p1"]][:3]


def test_a_telemetry_timestamp_dates_the_reading():
    body = {"soc_pct": 50, "power_w": 0, "max_discharge_w": 1200, "max_charge_w": 1200}
    reading = parse_pack_payload(json.dumps({**body, "ts": 1000.0}).encode(), received_s=500.0, wall_s=1030.0)
    assert reading.received_s == pytest.approx(470.0)  # 30 s old when it arrived
    assert pack_fault(reading, 500.0, 5.0).startswith("stale")
    with pytest.raises(ValueError, match="future"):
        parse_pack_payload(json.dumps({**body, "ts": 2000.0}).encode(), received_s=500.0, wall_s=1030.0)
    with pytest.raises(UndatedReading):
        parse_pack_payload(json.dumps(body).encode(), received_s=500.0, require_ts=True)
    assert parse_pack_payload(json.dumps(body).encode(), received_s=500.0).received_s == 500.0


def test_retained_mqtt_telemetry_without_a_fresh_timestamp_is_not_taken_as_live(tmp_path, broker):
    cfg = runtime_config(tmp_path, link="mqtt", mqtt_port=broker.port)
    device = emulated_device()
    device.silent.add("p1")
    old = {"soc_pct": 50, "power_w": 0, "max_discharge_w": 1200, "max_charge_w": 1200, "online": True}

    async def scenario() -> None:
        await publish(broker.port, [(f"{BASE}/device/packs/p1/telemetry", json.dumps(old), True)])
        async with mqtt_rig(cfg, broker, device=device) as (rt, _):
            sent = record_setpoints(rt)
            await wait_until(lambda: any(s["main"] > 0 for s in sent), 15, "main driven")
            # the same reading with a ts an hour old, sent live: stale
            await publish(broker.port, [(f"{BASE}/device/packs/p1/telemetry", json.dumps({**old, "ts": time.time() - 3600}))])
            await asyncio.sleep(0.5)
            assert rt.faults.active["p1"].startswith(("missing", "stale"))
            assert all(s["p1"] == 0.0 for s in sent)
            device.silent.discard("p1")  # the device's own, timestamped telemetry brings it in
            await wait_until(lambda: rt.last_plan.setpoints_w["p1"] > 0, 5, "p1 live")

    asyncio.run(scenario())


# --- 7 and 8: Home Assistant sees a pack go unavailable; a normal start logs no fault ------------


def test_home_assistant_sees_an_offline_pack_unavailable_and_a_start_logs_no_fault(tmp_path, broker):
    cfg = runtime_config(tmp_path, link="mqtt", mqtt_port=broker.port)

    async def scenario() -> None:
        async with mqtt_rig(cfg, broker) as (rt, device):
            await wait_until(lambda: driving(rt, device), 15, "runtime drives the device")
            assert rt.state()["phase"] == "running"
            avail = f"{BASE}/packs/p1/availability"
            disc = await retained(broker.port, "homeassistant/sensor/#")
            p1 = json.loads(disc["homeassistant/sensor/socbal_test/p1_soc/config"])
            assert {"topic": avail} in p1["availability"] and p1["availability_mode"] == "all" and p1["expire_after"] > 0
            assert (await retained(broker.port, avail))[avail] == b"online"
            assert not [e for e in rt.store.events() if e["kind"] in ("fault", "link") and "connected to" not in e["message"]]
            device.silent.add("p1")
            await wait_until(lambda: "p1" in rt.faults.active, 5, "p1 stale")
            await asyncio.sleep(0.2)
            assert (await retained(broker.port, avail))[avail] == b"offline"
            device.silent.discard("p1")
            await wait_until(lambda: "p1" not in rt.faults.active, 5, "p1 back")
            await asyncio.sleep(0.2)
            assert (await retained(broker.port, avail))[avail] == b"online"

    asyncio.run(scenario())
    faults = [e for e in events_of(cfg) if e["kind"] in ("fault", "recovered")]
    assert [(e["kind"], e["pack_id"]) for e in faults] == [("fault", "p1"), ("recovered", "p1")]
