"""``socbal emulate --protocol …`` as a user starts it: a subprocess on loopback ports, checked with plain clients."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import aiomqtt
import httpx
import pytest
from pymodbus.client import ModbusTcpClient
from typer.testing import CliRunner

from socbal.cli import app
from tests.runtime.conftest import EXAMPLES, LOOPBACK, SUBPROCESS_START_S, broker, free_port, wait_for_port  # noqa: F401 - the fixture


def emulate(*args: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "socbal", "emulate", str(EXAMPLES / "spec_example.toml"), "--host", LOOPBACK, *args]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(timeout=10)


def test_zendure_with_a_shelly_meter_serving_the_simulated_grid():
    port, meter_port = free_port(), free_port()
    proc = emulate("--protocol", "zendure", "--port", str(port), "--meter", "shelly-pro-3em", "--meter-port", str(meter_port))
    try:
        wait_for_port(port, SUBPROCESS_START_S)
        wait_for_port(meter_port, SUBPROCESS_START_S)
        report = httpx.get(f"http://{LOOPBACK}:{port}/properties/report", timeout=5).json()
        assert [p["socLevel"] for p in report["packData"]] == [80, 40]
        grid = httpx.get(f"http://{LOOPBACK}:{meter_port}/rpc/EM.GetStatus?id=0", timeout=5).json()["total_act_power"]
        assert grid == pytest.approx(900, abs=1)  # the example's 900 W load, nothing from the battery yet
    finally:
        stop(proc)


def test_marstek_and_indevolt_protocols():
    mk_port, iv_port = free_port(), free_port()
    marstek = emulate("--protocol", "marstek", "--port", str(mk_port), "--model", "venus-a")
    indevolt = emulate("--protocol", "indevolt", "--port", str(iv_port))
    try:
        assert (
            marstek.stderr is not None and "emulating" in marstek.stderr.readline()
        )  # a port probe would take its one connection
        with ModbusTcpClient(LOOPBACK, port=mk_port, timeout=5) as c:
            assert c.read_holding_registers(34102, count=1, device_id=1).registers == [400]  # pack 2 SOC, 0.1 %
        wait_for_port(iv_port, SUBPROCESS_START_S)
        r = httpx.post(f"http://{LOOPBACK}:{iv_port}/rpc/Indevolt.GetData", params={"config": '{"t":[6002]}'}, timeout=5)
        assert r.json() == {"6002": 60.0}
    finally:
        stop(marstek)
        stop(indevolt)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--protocol", "sonnen"), "--protocol: value 'sonnen' is not allowed"),
        (("--protocol", "marstek", "--model", "venus-x"), "--model: value 'venus-x' is not allowed for marstek"),
        (("--protocol", "zendure", "--meter", "ferraris"), "--meter: value 'ferraris' is not allowed"),
        (("--protocol", "zendure", "--mqtt"), "--mqtt: only with --protocol socbal"),
        (("--protocol", "zendure", "--port", "70000"), "--port: value 70000 is not allowed"),
    ],
)
def test_bad_options_exit_2_with_one_line(args, message):
    result = CliRunner().invoke(app, ["emulate", str(EXAMPLES / "spec_example.toml"), *args])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def home_file(tmp_path, meter_port: int | None = None) -> tuple[Path, dict[str, int]]:
    """The shipped home_emulated.toml with each device on a free port (and the meter's port kept free)."""
    text = (EXAMPLES / "home_emulated.toml").read_text()
    ports = {}
    for dev_id, old in (("indevolt", 18080), ("zendure", 18081), ("marstek", 15020)):
        ports[dev_id] = meter_port if dev_id == "zendure" and meter_port else free_port()
        text = text.replace(f"port = {old}\n", f"port = {ports[dev_id]}\n")
    path = tmp_path / "home.toml"
    path.write_text(text)
    return path, ports


def test_a_home_serves_each_device_on_its_protocol_and_the_meter_then_stops_by_itself(tmp_path):
    path, ports = home_file(tmp_path)
    meter_port = free_port()
    cmd = [sys.executable, "-m", "socbal", "emulate", str(path), "--host", LOOPBACK, "--meter", "homewizard-p1"]
    proc = subprocess.Popen(
        [*cmd, "--meter-port", str(meter_port), "--duration-s", "10"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()  # a port probe would take the Marstek's one connection
        assert "emulating the home home-emulated" in line and f"marstek marstek {LOOPBACK}:{ports['marstek']}" in line
        with ModbusTcpClient(LOOPBACK, port=ports["marstek"], timeout=5) as c:
            assert c.read_holding_registers(34002, count=1, device_id=1).registers == [500]  # 50 %, 0.1 %
        report = httpx.get(f"http://{LOOPBACK}:{ports['zendure']}/properties/report", timeout=5).json()
        assert report["sn"] == "EMU0000ZENDURE1" and report["properties"]["solarInputPower"] == 400
        r = httpx.post(
            f"http://{LOOPBACK}:{ports['indevolt']}/rpc/Indevolt.GetData", params={"config": '{"t":[6002]}'}, timeout=5
        )
        assert r.json() == {"6002": 70.0}
        meter_w = httpx.get(f"http://{LOOPBACK}:{meter_port}/api/v1/data", timeout=5).json()["active_power_w"]
        assert -1500 <= meter_w <= 1100  # the 1500 W load less the Zendure's 400 W PV, less what the others cover
        assert proc.wait(timeout=40) == 0  # --duration-s 10: stops by itself
    finally:
        if proc.poll() is None:
            stop(proc)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--protocol", "zendure"), "--protocol: not for a home scenario"),
        (("--port", "9000"), "--port: not for a home scenario"),
        (
            ("--meter", "shelly-pro-3em", "--meter-port", "ZENDURE"),
            "--meter-port: value {port} is not allowed: already the port of device 'zendure'",
        ),
    ],
)
def test_bad_home_options_exit_2_with_one_line(tmp_path, args, message):
    port = free_port()
    path, _ = home_file(tmp_path, meter_port=port)
    args = tuple(str(port) if a == "ZENDURE" else a for a in args)
    result = CliRunner().invoke(app, ["emulate", str(path), *args])
    assert result.exit_code == 2 and message.format(port=port) in result.output and "Traceback" not in result.output


HOME = str(EXAMPLES / "home_emulated.toml")
ONE = str(EXAMPLES / "emulate_80_40.toml")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((HOME, "--watchdog-s", "5"), "--watchdog-s: not for a home scenario"),
        ((HOME, "--modbus-port", "5021"), "--modbus-port: not for a home scenario"),
        ((HOME, "--base-topic", "x"), "--base-topic: not for a home scenario"),
        ((HOME, "--mqtt-port", "1884"), "--mqtt-port: not for a home scenario"),
        ((HOME, "--meter-port", "8001"), "--meter-port: only with --meter"),
        ((ONE, "--protocol", "zendure", "--watchdog-s", "3"), "--watchdog-s: only with --protocol socbal (not for zendure)"),
        ((ONE, "--protocol", "marstek", "--config", "x.toml"), "--config: only with --protocol socbal (not for marstek)"),
        ((ONE, "--protocol", "indevolt", "--modbus-port", "5021"), "--modbus-port: only with --protocol socbal"),
        ((ONE, "--protocol", "marstek", "--serial", "V1"), "--serial: not for marstek: it reports no serial number"),
        ((ONE, "--mqtt-host", "10.0.0.2"), "--mqtt-host: only with --mqtt (or --mqtt-port)"),
        ((ONE, "--base-topic", "socbal/x"), "--base-topic: only with --mqtt (or --mqtt-port)"),
        ((ONE, "--modbus-port", "0"), "--modbus-port: value 0 (no Modbus) is not allowed without --mqtt"),
        ((ONE, "--meter-port", "8001"), "--meter-port: only with --meter"),
        (
            (ONE, "--config", str(EXAMPLES / "runtime_mqtt.toml"), "--mqtt", "--mqtt-port", "1999"),
            "runtime_mqtt.toml's [mqtt]: it gives the broker",
        ),
    ],
)
def test_options_a_mode_would_ignore_exit_2_with_one_line(args, message):
    result = CliRunner().invoke(app, ["emulate", *args, "--duration-s", "0.1"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    (line,) = result.output.strip().splitlines()
    assert message in line


def test_a_home_with_a_socbal_mqtt_device_publishes_it_on_its_broker_and_says_offline_when_it_stops(tmp_path, broker):  # noqa: F811
    text = (EXAMPLES / "home_emulated_mqtt.toml").read_text().replace("port = 1883", f"port = {broker.port}")
    marstek_port = free_port()
    path = tmp_path / "home.toml"
    path.write_text(text.replace("port = 15021", f"port = {marstek_port}"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "socbal", "emulate", str(path), "--host", LOOPBACK, "--duration-s", "8"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert f"own socbal-mqtt 127.0.0.1:{broker.port} socbal/own" in line
        assert f"marstek marstek {LOOPBACK}:{marstek_port}" in line
        seen = asyncio.run(mqtt_messages(broker.port, "socbal/own/#", until_topics={"socbal/own/device/packs/p1/telemetry"}))
        assert seen["socbal/own/device/status"][-1] == "online"
        assert json.loads(seen["socbal/own/device/packs/main/telemetry"][-1])["soc_pct"] == pytest.approx(80, abs=0.5)
        assert proc.wait(timeout=40) == 0  # --duration-s: stops by itself
        status = asyncio.run(mqtt_messages(broker.port, "socbal/own/device/status", until_topics={"socbal/own/device/status"}))
        assert status["socbal/own/device/status"] == ["offline"]  # retained: what it said when it stopped
    finally:
        if proc.poll() is None:
            stop(proc)


async def mqtt_messages(port: int, topic_filter: str, until_topics: set[str], timeout_s: float = 20.0) -> dict[str, list[str]]:
    """Every message on ``topic_filter`` (a plain aiomqtt client) until each of ``until_topics`` has one."""
    seen: dict[str, list[str]] = {}
    async with aiomqtt.Client(LOOPBACK, port) as client:
        await client.subscribe(topic_filter, qos=1)
        async with asyncio.timeout(timeout_s):
            async for message in client.messages:
                seen.setdefault(str(message.topic), []).append(bytes(message.payload).decode())  # type: ignore[arg-type]
                if until_topics <= set(seen):
                    return seen
    return seen
