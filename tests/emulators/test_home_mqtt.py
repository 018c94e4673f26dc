"""A home device on socbal's own MQTT schema (``protocol = "socbal-mqtt"``), served by the emulated home over a real
mosquitto on 127.0.0.1, against a client written here from the README's description of the topics ("Live runtime",
MQTT link), not from the driver: pack telemetry on ``<base>/device/packs/<id>/telemetry`` (``soc_pct``, ``power_w``,
``max_discharge_w``, ``max_charge_w``, ``online``, ``ts``), ``online``/``offline`` retained on
``<base>/device/status``, setpoints ``{"seq", "watchdog_s", "packs": {"<id>": W}}`` on ``<base>/device/setpoints``,
the controller's ``offline`` on ``<base>/runtime/status``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator

import aiomqtt
import pytest

from socbal.emulators.home import EmulatedHome
from socbal.errors import InputError
from socbal.home.scenario import home_scenario_from_dict
from tests.emulators.harness import in_background, until
from tests.emulators.home_harness import mqtt_device, serving_home, with_free_ports
from tests.runtime.conftest import LOOPBACK, broker  # noqa: F401 - the fixture

BASE = "test/home/own"
LATENCY_S = 1.0
RAMP_W_PER_S = 250.0


def mqtt_home(broker_port: int, load_w: float = 1000.0) -> dict:
    """One socbal-mqtt device (packs main 80 %, p1 40 %) under :data:`BASE`, 1 s latency, 250 W/s, a constant load."""
    own = mqtt_device("own", broker_port, BASE, (80, 40), 1200, actuator_latency_s=LATENCY_S, ramp_w_per_s=RAMP_W_PER_S)
    return {
        "run": {"step_s": 1, "horizon_h": 1},
        "home": {"name": "mqtt-home"},
        "meter": {"period_s": 1, "latency_s": 0},
        "load": {"kind": "constant", "power_w": load_w},
        "devices": [own],
    }


class SchemaClient:
    """A controller written from the README's topics: records what the device publishes, sends setpoints."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self.client = client
        self.packs: dict[str, list[dict]] = {"main": [], "p1": []}  # every telemetry payload, per pack
        self.status: list[str] = []  # every <base>/device/status payload
        self.seq = 0

    async def setpoints(self, packs: dict[str, float], watchdog_s: float = 10.0) -> None:
        self.seq += 1
        body = {"seq": self.seq, "watchdog_s": watchdog_s, "packs": packs}
        await self.client.publish(f"{BASE}/device/setpoints", json.dumps(body), qos=0)

    def last(self, pack_id: str) -> dict:
        return self.packs[pack_id][-1]

    async def listen(self) -> None:
        async for message in self.client.messages:
            text = bytes(message.payload).decode()  # type: ignore[arg-type]
            parts = str(message.topic).split("/")
            if str(message.topic) == f"{BASE}/device/status":
                self.status.append(text)
            elif parts[-1] == "telemetry" and parts[-3] == "packs":
                self.packs[parts[-2]].append(json.loads(text))


@contextlib.asynccontextmanager
async def schema_client(port: int) -> AsyncIterator[SchemaClient]:
    async with aiomqtt.Client(LOOPBACK, port) as client:
        await client.subscribe([(f"{BASE}/device/packs/+/telemetry", 0), (f"{BASE}/device/status", 1)])
        me = SchemaClient(client)
        async with in_background(me.listen()):
            yield me


def test_the_device_follows_setpoints_after_its_latency_at_its_ramp_with_its_watchdog_and_faults(broker):  # noqa: F811
    async def scenario():
        home = EmulatedHome(with_free_ports(mqtt_home(broker.port)))
        async with schema_client(broker.port) as me:
            async with serving_home(home) as meter_port:
                assert meter_port is not None
                await follows_setpoints_and_faults(home, me)
            await until(lambda: me.status[-1:] == ["offline"], timeout_s=3)  # the home stopped: it says so

    asyncio.run(scenario())


async def follows_setpoints_and_faults(home: EmulatedHome, me: SchemaClient) -> None:
    """What the README says of the device, checked from the client's side (and the device's true state)."""
    dev = home.devices["own"]
    await until(lambda: me.status[-1:] == ["online"] and me.packs["p1"], timeout_s=10)
    tel = me.last("main")
    assert tel["soc_pct"] == pytest.approx(80, abs=0.5) and me.last("p1")["soc_pct"] == pytest.approx(40, abs=0.5)
    assert tel["max_discharge_w"] == 1200 and tel["online"] is True and abs(tel["ts"] - time.time()) < 2

    sent_s = time.monotonic()
    await me.setpoints({"main": 300.0, "p1": 200.0})
    still_s = sent_s  # when it was last seen at rest (a loaded machine sees it move late, and further on)

    def moving() -> bool:
        nonlocal still_s
        if dev.true_state().battery_power_w > 5:
            return True
        still_s = time.monotonic()
        return False

    await until(moving, timeout_s=5)
    assert time.monotonic() - sent_s >= LATENCY_S - 0.15  # nothing before the actuator latency
    await until(lambda: dev.true_state().battery_power_w > 495, timeout_s=5)
    assert time.monotonic() - still_s >= 490 / RAMP_W_PER_S - 0.4  # then at its ramp, all packs together
    await until(lambda: abs(home.meter_w() - 500) < 5, timeout_s=3)  # the home's meter sees it
    await until(lambda: me.last("main")["power_w"] == pytest.approx(300, abs=2), timeout_s=2)
    assert me.last("p1")["power_w"] == pytest.approx(200, abs=2) and dev.writes == 1

    # the same with a 0.5 s watchdog, then nothing: every pack back to 0 W (after the latency, at the ramp)
    await me.setpoints({"main": 300.0, "p1": 200.0}, watchdog_s=0.5)
    await until(lambda: abs(dev.true_state().battery_power_w) < 1, timeout_s=0.5 + LATENCY_S + 5)

    dev.faults.ignore_writes = True  # taken off the broker, never applied
    await me.setpoints({"main": -300.0, "p1": -300.0})
    await asyncio.sleep(LATENCY_S + 0.5)
    assert abs(dev.true_state().battery_power_w) < 1 and dev.writes == 2
    dev.faults.ignore_writes = False

    dev.faults.freeze_telemetry = True  # the telemetry stays as it was, its ts included: it ages
    await asyncio.sleep(0.3)
    frozen = len(me.packs["main"])
    await asyncio.sleep(0.5)
    assert len(me.packs["main"]) > frozen and {m["ts"] for m in me.packs["main"][frozen:]} == {me.last("main")["ts"]}
    assert time.time() - me.last("main")["ts"] > 0.4
    dev.faults.freeze_telemetry = False
    await until(lambda: time.time() - me.last("main")["ts"] < 0.5, timeout_s=2)

    # away: offline on its status (as its last will), nothing published, no setpoint taken; for 3 s, so that the
    # checks below (up to 1.7 s after it left, more on a loaded machine) all fall while it is away
    dev.drop_out(3.0)
    await until(lambda: me.status[-1:] == ["offline"], timeout_s=1)
    await asyncio.sleep(0.2)
    count = len(me.packs["main"])
    await me.setpoints({"main": 400.0, "p1": 400.0})
    await asyncio.sleep(0.5)
    assert len(me.packs["main"]) == count and dev.writes == 2
    await until(lambda: me.status[-1:] == ["online"] and len(me.packs["main"]) > count, timeout_s=8)  # back

    await me.setpoints({"main": 400.0, "p1": 400.0}, watchdog_s=30)
    await until(lambda: dev.true_state().battery_power_w > 700, timeout_s=LATENCY_S + 5)
    await me.client.publish(f"{BASE}/runtime/status", "offline", qos=1, retain=True)  # the controller's will
    await until(lambda: abs(dev.true_state().battery_power_w) < 1, timeout_s=LATENCY_S + 5)  # long before 30 s
    await me.client.publish(f"{BASE}/runtime/status", b"", qos=1, retain=True)  # clear it


def test_a_lost_broker_is_retried_and_the_device_comes_back_within_its_ac_limit(broker):  # noqa: F811
    async def scenario():
        home = EmulatedHome(with_free_ports(mqtt_home(broker.port)))
        async with serving_home(home):
            async with schema_client(broker.port) as me:
                await until(lambda: me.packs["main"], timeout_s=10)
            broker.stop()
            await asyncio.sleep(1.0)
            broker.start()
            async with schema_client(broker.port) as me:
                await until(lambda: me.status[-1:] == ["online"] and me.packs["main"], timeout_s=15)
                await me.setpoints({"main": 900.0, "p1": 900.0})  # more than its 1200 W AC limit: scaled down to it
                own = home.devices["own"]
                await until(lambda: own.true_state().battery_power_w > 1190, timeout_s=LATENCY_S + 8)
                await asyncio.sleep(0.3)
                assert own.true_state().pack_power_w == pytest.approx((600, 600), abs=5)

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"port": 18600}, "devices[0].port: value 18600 is not allowed: not for socbal-mqtt: it is served on its broker"),
        ({"mqtt": None}, "devices[0].mqtt: value None is not allowed: a device with protocol 'socbal-mqtt' needs its broker"),
        ({"mqtt": {"base_topic": "socbal/#"}}, "devices[0].mqtt.base_topic: value 'socbal/#' is not allowed"),
        ({"mqtt": {"base_topic": "/"}}, "devices[0].mqtt.base_topic: value '/' is not allowed"),
        ({"mqtt": {"base_topic": "a", "port": 0}}, "devices[0].mqtt.port: value 0 is not allowed"),
        ({"mqtt": {"base_topic": "a", "tls": {"ca": "ca.pem"}}}, "devices[0].mqtt.tls.ca: unknown field"),
        ({"mqtt": {"base_topic": "a", "password_env": "PW"}}, "password_env / password_file need a username (the broker"),
        ({"mqtt": {"base_topic": "a", "username": ""}}, "devices[0].mqtt.username: value '' is not allowed"),
        ({"mqtt": {"base_topic": "a", "password": "secret"}}, "devices[0].mqtt.password: unknown field"),
        ({"serial": "X1"}, "devices[0].serial: value 'X1' is not allowed: socbal-mqtt reports no serial number"),
        ({"model": "sf2000"}, "devices[0].model: value 'sf2000' is not allowed: not a model of socbal-mqtt: it has no models"),
        ({"firmware": "stop-at-first-empty"}, "devices[0].firmware: value 'stop-at-first-empty' is not allowed: not for socbal"),
        ({"protocol": "marstek", "port": 18601}, "devices[0].mqtt: value {'host': '127.0.0.1'"),
        ({"protocol": None}, "devices[0].mqtt: value {'host': '127.0.0.1'"),
    ],
)
def test_bad_socbal_mqtt_fields_name_the_field_with_one_line(change, message):
    raw = mqtt_home(1883)
    raw["devices"][0].update(change)
    with pytest.raises(InputError) as err:
        home_scenario_from_dict(raw)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("protocol", ["marstek", "socbal-modbus"])
def test_fields_the_emulator_would_ignore_are_refused(protocol):
    raw = mqtt_home(1883)
    entry = raw["devices"][0]
    entry.update(protocol=protocol, port=18602, serial="X1")
    del entry["mqtt"]
    with pytest.raises(InputError, match=rf"devices\[0\]\.serial: value 'X1' is not allowed: {protocol} reports no serial"):
        home_scenario_from_dict(raw)


def test_one_base_topic_per_device_on_a_broker():
    raw = mqtt_home(1883)
    twin = {**raw["devices"][0], "id": "twin", "mqtt": {"port": 1883, "base_topic": BASE + "/"}}
    raw["devices"].append(twin)
    with pytest.raises(InputError) as err:
        home_scenario_from_dict(raw)
    assert str(err.value) == (
        f"scenario: devices[1].mqtt.base_topic: value '{BASE}/' is not allowed: "
        "already the base topic of device 'own' on that broker: one base topic per device"
    )
    twin["mqtt"] = {"port": 1884, "base_topic": BASE}  # another broker: fine
    home = EmulatedHome(home_scenario_from_dict(raw))
    assert home.addresses("0.0.0.0") == [f"own socbal-mqtt 127.0.0.1:1883 {BASE}", f"twin socbal-mqtt 127.0.0.1:1884 {BASE}"]
    assert home.ports == {}
