"""The socbal-mqtt driver over a real mosquitto broker on 127.0.0.1: against a device written here from the MQTT schema
as the README documents it (``<base>/device/packs/<id>/telemetry`` in, ``<base>/device/setpoints`` out,
``<base>/runtime/status`` and ``<base>/device/status``), against socbal's own emulator (``socbal emulate --mqtt``), and
in a home next to a socbal-modbus device sharing one load."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import httpx
import pytest
from typer.testing import CliRunner

from socbal.cli import app
from socbal.drivers.base import DriverError
from socbal.drivers.registry import open_driver
from socbal.drivers.socbal_mqtt import SocbalMqttDriver
from socbal.emulators.http import serve_app
from socbal.emulators.meters import meter_app
from socbal.errors import InputError
from socbal.homectl.config import SocbalMqttDevice, home_config_from_dict, load_home_config
from socbal.homectl.controller import HomeController
from socbal.runtime.config import MqttConfig
from socbal.runtime.emulator import EmulatedDevice, serve
from tests.emulators.harness import LoopLag, two_packs, until
from tests.homectl.harness import config, running
from tests.runtime.conftest import EXAMPLES, LOOPBACK, SUBPROCESS_START_S, broker, free_port, wait_for_port  # noqa: F401 - the fixture

BASE = "test/own"
PACKS = [
    {"id": "main", "capacity_wh": 1920, "max_discharge_w": 1200, "max_charge_w": 1200},
    {"id": "p1", "capacity_wh": 1920, "max_discharge_w": 1200, "max_charge_w": 1200},
]


def entry(port: int, **over) -> dict:
    """A socbal-mqtt ``[[devices]]`` entry on the test broker, quick pacing, a 2 s watchdog."""
    raw: dict = {
        "driver": "socbal-mqtt",
        "id": "own",
        "host": LOOPBACK,
        "port": port,
        "base_topic": BASE,
        "packs": PACKS,
        "latency_s": 0.3,
        "timeout_s": 1.0,
        "watchdog_s": 2,
        "max_telemetry_age_s": 1.0,
        "pacing": {"min_write_interval_s": 0.3, "keepalive_s": 0.6},
    }
    raw.update(over)
    return raw


def driver(port: int, **over) -> SocbalMqttDriver:
    d = open_driver(SocbalMqttDevice.model_validate(entry(port, **over)))
    assert isinstance(d, SocbalMqttDriver)
    return d


class SchemaDevice:
    """A device written from the README's MQTT schema: publishes pack telemetry, records what reaches it."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self.client = client
        self.setpoints: list[dict] = []  # every <base>/device/setpoints payload, in order
        self.status: list[str] = []  # every <base>/runtime/status payload

    async def pack(self, pack_id: str, soc_pct: float, power_w: float, age_s: float = 0.0, **over) -> None:
        body = {"soc_pct": soc_pct, "power_w": power_w, "max_discharge_w": 1200, "max_charge_w": 1200, "online": True}
        body.update(ts=time.time() - age_s, **over)
        await self.client.publish(f"{BASE}/device/packs/{pack_id}/telemetry", json.dumps(body))

    async def listen(self) -> None:
        async for message in self.client.messages:
            text = bytes(message.payload).decode()  # type: ignore[arg-type]
            if str(message.topic) == f"{BASE}/device/setpoints":
                self.setpoints.append(json.loads(text))
            elif str(message.topic) == f"{BASE}/runtime/status":
                self.status.append(text)


@contextlib.asynccontextmanager
async def schema_device(port: int) -> AsyncIterator[SchemaDevice]:
    async with aiomqtt.Client(LOOPBACK, port, identifier="schema-device") as client:
        await client.subscribe([(f"{BASE}/device/setpoints", 0), (f"{BASE}/runtime/status", 1)])
        dev = SchemaDevice(client)
        task = asyncio.create_task(dev.listen())
        try:
            yield dev
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def fresh_read(drv: SocbalMqttDriver, after_s: float, timeout_s: float = 5.0):
    """The driver's first reading of both packs taken after ``after_s`` (monotonic), polling (errors until it arrives)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(DriverError):
            tel = await drv.read()
            if tel.time_s > after_s and len(tel.pack_soc_pct) == 2:
                return tel
        await asyncio.sleep(0.02)
    raise AssertionError("no fresh reading")


def test_telemetry_in_setpoints_out_and_every_fail_safe_against_the_documented_schema(broker):  # noqa: F811
    async def scenario():
        async with schema_device(broker.port) as dev:
            drv = driver(broker.port)
            with pytest.raises(DriverError, match="no pack has usable telemetry"):
                await drv.read()  # connected, nothing reported yet
            await until(lambda: "online" in dev.status, timeout_s=5)  # it says so on <base>/runtime/status
            t0 = time.monotonic()
            await dev.pack("main", 80.0, 900.0)
            await dev.pack("p1", 40.0, 300.0)
            tel = await fresh_read(drv, t0 - 0.5)
            assert tel.soc_pct == pytest.approx(60.0) and tel.weakest_soc_pct == 40.0 and tel.pack_soc_pct == (80.0, 40.0)
            assert tel.battery_power_w == 1200.0 and tel.state == "discharging" and tel.online and tel.fault is None
            assert tel.max_discharge_w == 2400.0

            assert await drv.write(1500.0)  # shared by the EMS: the fuller pack gives more, the watchdog goes along
            await until(lambda: len(dev.setpoints) == 1, timeout_s=3)
            body = dev.setpoints[0]
            assert body["watchdog_s"] == 2 and set(body["packs"]) == {"main", "p1"}
            assert sum(body["packs"].values()) == pytest.approx(1500.0) and body["packs"]["main"] > body["packs"]["p1"] > 0
            await asyncio.sleep(0.35)  # the minimum write interval
            assert await drv.write(-9000.0)  # charge, clamped to what the packs take together
            await until(lambda: len(dev.setpoints) == 2, timeout_s=3)
            assert sum(dev.setpoints[1]["packs"].values()) == pytest.approx(-2400.0)

            # a pack with garbage or old telemetry is left out; the device stays online with the other
            await dev.client.publish(f"{BASE}/device/packs/p1/telemetry", b'{"soc_pct": "full"}')
            await dev.pack("main", 80.0, 0.0)
            await until(lambda: "p1" in drv.link._errors, timeout_s=3)
            tel = await drv.read()
            assert tel.pack_soc_pct == (80.0,) and "pack p1: garbage" in (tel.fault or "")
            await dev.pack("main", 80.0, 0.0)  # fresh again: the waits above may have taken max_telemetry_age_s
            await dev.pack("p1", 40.0, 0.0, age_s=5.0)  # dated by its ts: 5 s old, over max_telemetry_age_s
            await until(lambda: "p1" not in drv.link._errors, timeout_s=3)
            assert "pack p1: stale" in ((await drv.read()).fault or "")

            # nothing new for max_telemetry_age_s: the whole device is unusable (the controller counts it offline)
            await asyncio.sleep(1.2)
            with pytest.raises(DriverError, match="stale"):
                await drv.read()
            await dev.pack("main", 70.0, 0.0)
            await dev.pack("p1", 70.0, 0.0)
            await fresh_read(drv, time.monotonic() - 0.5)
            await dev.client.publish(f"{BASE}/device/status", "offline", retain=True)  # the device's last will
            await until(lambda: not drv.link.device_online, timeout_s=3)
            with pytest.raises(DriverError, match="device says offline"):
                await drv.read()
            await dev.client.publish(f"{BASE}/device/status", "", retain=True)  # clear the retained message

            sent = len(dev.setpoints)
            await drv.close()  # socbal stops: every pack 0 W, and offline (retained) on its status topic
            await until(lambda: dev.status[-1:] == ["offline"], timeout_s=3)
            assert dev.setpoints[sent:] and set(dev.setpoints[-1]["packs"].values()) == {0.0}

    asyncio.run(scenario())


def test_pacing_newest_setpoint_wins_deadband_and_keepalive(broker):  # noqa: F811
    async def scenario():
        async with schema_device(broker.port) as dev:
            pacing = {"min_write_interval_s": 0.5, "deadband_w": 20, "keepalive_s": 1.0}
            drv = driver(broker.port, pacing=pacing, max_telemetry_age_s=30.0)
            with contextlib.suppress(DriverError):
                await drv.read()  # connects
            await until(lambda: "online" in dev.status, timeout_s=5)
            await dev.pack("main", 60.0, 0.0)
            await dev.pack("p1", 60.0, 0.0)
            await fresh_read(drv, time.monotonic() - 1.0)
            assert await drv.write(1000.0)
            for w in (1100.0, 1200.0, 1300.0):  # inside the interval: held, each replacing the one before
                assert not await drv.write(w)
            assert not await drv.write(1310.0)
            await asyncio.sleep(0.55)
            await drv.read()  # the pending setpoint goes out with the next read
            await until(lambda: len(dev.setpoints) == 2, timeout_s=2)
            assert sum(dev.setpoints[1]["packs"].values()) == pytest.approx(1310.0)  # the newest, never 1100 or 1200
            # timed from the write (not from its arrival, late on a loaded machine): past the interval, before the keep-alive
            await asyncio.sleep(drv.pacer.sent_at_s + 0.55 - time.monotonic())
            assert not await drv.write(1320.0)  # within the 20 W deadband: not rewritten
            await asyncio.sleep(drv.pacer.sent_at_s + 1.15 - time.monotonic())  # the keep-alive rewrites the one in force
            await drv.read()
            await until(lambda: len(dev.setpoints) == 3, timeout_s=2)
            assert sum(dev.setpoints[2]["packs"].values()) == pytest.approx(1310.0) and drv.pacer.writes == 3
            await drv.close()

    asyncio.run(scenario())


@contextlib.asynccontextmanager
async def emulated(port: int, load_w: float = 0.0, main_soc: float = 80.0, pack_soc: float = 40.0):
    """socbal's own emulator (``socbal emulate --mqtt``) on the test broker under :data:`BASE`."""
    own = EmulatedDevice(two_packs(main_soc=main_soc, pack_soc=pack_soc, load_w=load_w), watchdog_s=2)
    own.step(1e-6)  # load the compiled pack physics before serving
    stop, ready = asyncio.Event(), asyncio.Event()
    mqtt = MqttConfig(host=LOOPBACK, port=port, base_topic=BASE, client_id="emulator", keepalive_s=5, discovery=False)
    task = asyncio.create_task(serve(own, stop, LOOPBACK, modbus_port=None, mqtt=mqtt, tick_s=0.05, on_ready=ready.set))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        yield own
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def test_socbal_emulator_obeys_the_setpoint_and_falls_back_by_itself(broker):  # noqa: F811
    async def scenario():
        async with emulated(broker.port) as own:
            drv = driver(broker.port)
            tel = await fresh_read(drv, -math.inf)
            assert tel.pack_soc_pct == pytest.approx((80.0, 40.0), abs=0.5)
            await drv.write(1500.0)
            await until(lambda: abs(float(own.power_w.sum()) - 1500.0) < 60, timeout_s=5)
            main, p1 = own.power_w
            assert main > p1 > 0
            tel = await fresh_read(drv, time.monotonic())
            assert tel.battery_power_w == pytest.approx(float(own.power_w.sum()), abs=60) and tel.state == "discharging"
            await drv.close()  # socbal stops: the emulator takes "offline" on <base>/runtime/status, 0 W at once
            await until(lambda: own.runtime_offline and not own.effective_setpoints(time.monotonic()).any(), timeout_s=2)

            drv = driver(broker.port)
            await fresh_read(drv, -math.inf)
            await drv.write(-800.0)
            await until(lambda: float(own.power_w.sum()) < -700, timeout_s=5)
            drv.link._task.cancel()  # type: ignore[union-attr] - it hangs up cleanly but says nothing: only the watchdog is left
            await until(lambda: own.watchdog_tripped, timeout_s=4)
            assert not own.runtime_offline and not own.effective_setpoints(time.monotonic()).any()

            drv = driver(broker.port)
            await fresh_read(drv, -math.inf)
            await drv.write(900.0)
            await until(lambda: float(own.power_w.sum()) > 800, timeout_s=5)
            async with LoopLag() as lag:  # a stalled loop reads the will late: not the broker's or the emulator's delay
                cut_s = time.monotonic()
                drv.link._client._client.socket().shutdown(socket.SHUT_RDWR)  # type: ignore[union-attr] - its connection dies
                await until(lambda: own.runtime_offline, timeout_s=10)  # the broker sends socbal's last will: 0 W at once
                took_s = time.monotonic() - cut_s
            assert not own.effective_setpoints(time.monotonic()).any() and took_s < 1.5 + lag.late_s, (took_s, lag.late_s)
            drv.link._task.cancel()  # type: ignore[union-attr]

    asyncio.run(scenario())


def test_a_lost_broker_fails_the_reads_and_the_link_comes_back_by_itself(broker):  # noqa: F811
    async def scenario():
        async with emulated(broker.port) as own:
            drv = driver(broker.port)
            await fresh_read(drv, -math.inf)
            broker.stop()
            await until(lambda: drv.link.last_error is not None, timeout_s=5)
            with pytest.raises(DriverError, match="link: mqtt broker"):
                await drv.read()
            assert not await drv.link.write({"main": 500.0, "p1": 500.0}, 2)  # nothing is queued for later
            broker.start()  # same port: the link reconnects with its backoff, the emulator too
            await until(lambda: drv.link.connects == 2, timeout_s=10)
            await fresh_read(drv, time.monotonic(), timeout_s=15)
            await drv.write(1000.0)
            await until(lambda: abs(float(own.power_w.sum()) - 1000.0) < 60, timeout_s=5)
            await drv.close()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"port": 0}, r"devices\[0\]\.port: value 0 is not allowed"),
        ({"base_topic": "socbal/#"}, r"devices\[0\]\.base_topic: value 'socbal/#' is not allowed"),
        ({"keepalive_s": 1}, r"devices\[0\]\.keepalive_s: value 1 is not allowed"),
        ({"pacing": {"keepalive_s": 5}}, r"devices\[0\]: pacing\.keepalive_s must be below watchdog_s"),
        ({"tls": {"ca": "x.pem"}}, r"devices\[0\]\.tls\.ca: unknown field"),
        ({"host": ""}, r"devices\[0\]\.host: value '' is not allowed"),
        ({"password_env": "PW"}, r"devices\[0\]: password_env / password_file need a username"),
        ({"retries": 3}, r"devices\[0\]: retries = 3 does nothing for socbal-mqtt"),
    ],
)
def test_bad_entries_name_the_field_value_and_what_is_allowed(over, message):
    raw = {"meter": {"kind": "shelly-pro-3em", "host": LOOPBACK}, "devices": [{**entry(1883), **over}]}
    with pytest.raises(InputError, match=message):
        home_config_from_dict(raw, source="home.toml")


def test_unusable_secrets_stop_the_start_with_one_line(tmp_path, monkeypatch):
    monkeypatch.delenv("NO_SUCH_MQTT_PASSWORD", raising=False)
    with pytest.raises(InputError, match="own: mqtt password: environment variable NO_SUCH_MQTT_PASSWORD is not set"):
        driver(1883, username="socbal", password_env="NO_SUCH_MQTT_PASSWORD")
    missing = tmp_path / "missing-ca.pem"
    with pytest.raises(InputError, match=f"own: tls.ca_file: file {missing} does not exist"):
        driver(1883, tls={"ca_file": str(missing)})
    (tmp_path / "garbage.pem").write_text("not a certificate")
    with pytest.raises(InputError, match=rf"^own: tls\.ca_file: file {tmp_path}/garbage\.pem is not a usable CA certificate"):
        driver(1883, tls={"ca_file": str(tmp_path / "garbage.pem")})


def test_secret_and_tls_files_are_relative_to_the_config_file(tmp_path):
    text = (EXAMPLES / "home_socbal_mqtt.toml").read_text().replace("# [devices.tls]", "[devices.tls]")
    text = text.replace(
        '# ca_file = "/etc/ssl/certs/ca-certificates.crt"', 'ca_file = "certs/ca.pem"\ncert_file = "certs/me.pem"'
    )
    text = text.replace('# username = "socbal"', 'username = "socbal"').replace(
        '# password_env = "SOCBAL_MQTT_PASSWORD" # or ', ""
    )
    (tmp_path / "home.toml").write_text(text)
    (device,) = load_home_config(tmp_path / "home.toml").devices
    assert isinstance(device, SocbalMqttDevice) and device.tls is not None
    assert device.tls.ca_file == tmp_path / "certs/ca.pem" and device.tls.cert_file == tmp_path / "certs/me.pem"
    assert device.password_file == Path("/run/secrets/mqtt_password")  # absolute: kept


def test_a_base_topic_is_one_devices_own(tmp_path):
    raw = {"meter": {"kind": "shelly-pro-3em", "host": LOOPBACK}, "devices": [entry(1883), {**entry(1883), "id": "twin"}]}
    with pytest.raises(InputError, match=r"devices\[1\]\.base_topic: value 'test/own' is not allowed: is taken by device 'own'"):
        home_config_from_dict(raw)
    home_config_from_dict({**raw, "devices": [entry(1883), {**entry(1884), "id": "twin"}]})  # another broker: fine
    with pytest.raises(InputError, match=r"devices\[0\]\.base_topic: .* is taken by the home's own \[mqtt\]"):
        home_config_from_dict({**raw, "devices": [entry(1883)], "mqtt": {"host": LOOPBACK, "port": 1883, "base_topic": BASE}})


def test_socbal_run_stops_on_a_bad_entry_with_exit_2_and_one_line(tmp_path):
    path = tmp_path / "home.toml"
    path.write_text((EXAMPLES / "home_socbal_mqtt.toml").read_text().replace("port = 1883", "port = 70000"))
    result = CliRunner().invoke(app, ["run", str(path)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    (line,) = result.output.strip().splitlines()
    assert "devices[0].port: value 70000 is not allowed: Input should be less than or equal to 65535" in line


def test_a_home_shares_a_load_between_a_socbal_mqtt_and_a_socbal_modbus_device(tmp_path, broker):  # noqa: F811
    async def scenario():
        modbus_port, meter_port = free_port(), free_port()
        wired = {**entry(0), "driver": "socbal-modbus", "id": "wired", "port": modbus_port}
        for key in ("base_topic", "max_telemetry_age_s"):
            wired.pop(key)
        cfg = config(tmp_path, [entry(broker.port), wired], meter_port, home={"staging": "always-share"})
        ctl = HomeController(cfg)  # built (its compiled kernel loaded) before the devices run on this event loop
        async with emulated(broker.port, load_w=3000.0, main_soc=70.0, pack_soc=60.0) as own:
            other = EmulatedDevice(two_packs(main_soc=70.0, pack_soc=60.0), watchdog_s=2)
            stop, ready = asyncio.Event(), asyncio.Event()

            def grid_w() -> float:  # one home: the load is the first device's scenario's, both devices feed it
                return own.now_load_w - float(own.power_w.sum()) - float(other.power_w.sum())

            tasks = [asyncio.create_task(serve(other, stop, LOOPBACK, modbus_port=modbus_port, tick_s=0.05, on_ready=ready.set))]
            tasks.append(asyncio.create_task(serve_app(meter_app("shelly-pro-3em", grid_w), stop, LOOPBACK, meter_port)))
            try:
                await asyncio.wait_for(ready.wait(), 10)
                async with running(ctl):
                    await until(lambda: abs(grid_w()) < 50 and ctl.decisions > 5, timeout_s=12)
                    state = ctl.state()["devices"]
                    assert state["own"]["online"] and state["wired"]["online"]
                    # the mqtt device carries its share of the 3000 W (equal SOC and size: about half)
                    assert 1000 < float(own.power_w.sum()) < 2000 and 1000 < float(other.power_w.sum()) < 2000
                    assert state["own"]["power_w"] == pytest.approx(float(own.power_w.sum()), abs=150)

                    own.silent.update(own.ids)  # its telemetry stops: stale, offline, the other takes what it can
                    await until(lambda: not ctl.state()["devices"]["own"]["online"], timeout_s=5)
                    await until(lambda: float(other.power_w.sum()) > 2200, timeout_s=5)
            finally:
                stop.set()
                await asyncio.wait(tasks, timeout=10)

    asyncio.run(scenario())


def test_socbal_emulate_serves_its_own_device_and_the_meter_of_its_grid():
    port, meter_port = free_port(), free_port()
    cmd = [sys.executable, "-m", "socbal", "emulate", str(EXAMPLES / "emulate_80_40.toml"), "--host", LOOPBACK]
    cmd += ["--modbus-port", str(port), "--meter", "shelly-pro-3em", "--meter-port", str(meter_port), "--duration-s", "60"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_port(meter_port, SUBPROCESS_START_S)
        grid = httpx.get(f"http://{LOOPBACK}:{meter_port}/rpc/EM.GetStatus?id=0", timeout=5).json()["total_act_power"]
        assert grid == pytest.approx(900, abs=1)  # the example's 900 W load, nothing from its packs yet
    finally:
        proc.terminate()
        proc.wait(timeout=10)
