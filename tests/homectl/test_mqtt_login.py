"""socbal's own MQTT device on a broker that wants a login: a real mosquitto on 127.0.0.1 with a password file,
``allow_anonymous false`` and a TLS listener (its certificate signed by a CA made here). The emulated device
(``socbal emulate HOME.toml``'s ``[devices.mqtt]``) and the live home controller (``socbal run``'s socbal-mqtt
entry) log in with ``username`` + ``password_env`` / ``password_file`` and ``tls.ca_file``; a wrong login is one
line naming the fields (``socbal emulate``: exit 2; the controller: the device offline with that reason)."""

from __future__ import annotations

import asyncio
import getpass
import json
import logging
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import aiomqtt
import pytest
from typer.testing import CliRunner

from socbal.cli import app
from socbal.drivers.base import DriverError
from socbal.emulators.home import EmulatedHome
from socbal.errors import InputError
from socbal.home.scenario import home_scenario_from_dict
from socbal.homectl.config import SocbalMqttDevice, load_home_config
from socbal.homectl.controller import HomeController
from socbal.tomlfile import read_toml
from tests.emulators.harness import until
from tests.emulators.home_harness import HomeInThread, mqtt_device
from tests.homectl.harness import config, running
from tests.homectl.test_socbal_mqtt import driver
from tests.runtime.certs import TestCA
from tests.runtime.conftest import EXAMPLES, LOOPBACK, Broker, free_port, mosquitto_binary

USER, PASSWORD = "socbal", "pw-7f3c-never-logged"
PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
LOAD_W = 1800.0  # above either device's 1200 W: both must serve


@dataclass
class LockedBroker:
    """A running mosquitto that wants ``USER`` / ``PASSWORD``: plain on ``port``, TLS on ``tls_port`` (``ca_file``)."""

    port: int
    tls_port: int
    ca_file: Path
    server: Broker
    passwd: Path  # its password file

    def change_password(self, password: str) -> None:
        """``USER``'s password becomes ``password``, at once (mosquitto reloads its password file on SIGHUP)."""
        subprocess.run([PASSWD, "-b", str(self.passwd), USER, password], check=True, capture_output=True, timeout=10)
        assert self.server.proc is not None
        self.server.proc.send_signal(signal.SIGHUP)


@pytest.fixture
def locked_broker(tmp_path):
    binary = mosquitto_binary()
    if binary is None or not Path(PASSWD).exists():
        pytest.skip("mosquitto and mosquitto_passwd are not installed (apt-get install -y mosquitto)")
    folder = tmp_path / "broker"
    folder.mkdir()
    subprocess.run([PASSWD, "-b", "-c", str(folder / "passwd"), USER, PASSWORD], check=True, capture_output=True, timeout=10)
    ca = TestCA(folder)
    cert_file, key_file = ca.issue("broker", LOOPBACK)
    b = Broker(binary, folder)
    tls_port = free_port()
    b.conf.write_text(
        f"user {getpass.getuser()}\n"  # as root it would drop to the user mosquitto, who cannot read tmp_path
        f"per_listener_settings false\nallow_anonymous false\npassword_file {folder / 'passwd'}\n"
        "persistence false\nlog_dest stderr\nlog_type error\n"
        f"listener {b.port} {LOOPBACK}\n"
        f"listener {tls_port} {LOOPBACK}\ncafile {ca.file}\ncertfile {cert_file}\nkeyfile {key_file}\n"
    )
    b.start()
    try:
        yield LockedBroker(b.port, tls_port, ca.file, b, folder / "passwd")
    finally:
        b.stop()


def scenario_raw(broker: LockedBroker) -> dict:
    """Two socbal-mqtt devices (1200 W each): ``plain`` logs in with a password file, ``tls`` over TLS with an
    environment variable; both files relative to the scenario's folder."""
    plain = mqtt_device("plain", broker.port, "test/login/plain", (80, 40), 1200, actuator_latency_s=0.5, ramp_w_per_s=2000)
    plain["mqtt"].update(username=USER, password_file="secrets/pw.txt")
    tls = mqtt_device("tls", broker.tls_port, "test/login/tls", (70, 50), 1200, actuator_latency_s=0.5, ramp_w_per_s=2000)
    tls["mqtt"].update(username=USER, password_env="SOCBAL_TEST_MQTT_PW", tls={"ca_file": "secrets/ca.pem"})
    return {
        "run": {"step_s": 1, "horizon_h": 1},
        "home": {"name": "login-home"},
        "meter": {"period_s": 1, "latency_s": 0},
        "load": {"kind": "constant", "power_w": LOAD_W},
        "devices": [plain, tls],
    }


def write_secrets(folder: Path, broker: LockedBroker, password: str = PASSWORD) -> None:
    (folder / "secrets").mkdir(exist_ok=True)
    (folder / "secrets" / "pw.txt").write_text(password + "\n")
    shutil.copy(broker.ca_file, folder / "secrets" / "ca.pem")


def controller_entry(dev_id: str, port: int, **login) -> dict:
    """``socbal run``'s socbal-mqtt entry for the emulated device ``dev_id`` (two 2000 Wh packs, 1200 W)."""
    packs = [{"id": p, "capacity_wh": 2000, "max_discharge_w": 1200, "max_charge_w": 1200} for p in ("main", "p1")]
    entry = {"driver": "socbal-mqtt", "id": dev_id, "host": LOOPBACK, "port": port, "base_topic": f"test/login/{dev_id}"}
    entry.update(packs=packs, max_discharge_w=1200, max_charge_w=1200, reserve_pct=10, latency_s=0.5, timeout_s=1.0)
    entry.update(watchdog_s=3, max_telemetry_age_s=1.5, pacing={"min_write_interval_s": 0.3, "keepalive_s": 1.0}, **login)
    return entry


def test_the_emulated_devices_and_the_controller_log_in_with_a_password_and_over_tls_and_share_a_load(
    tmp_path, locked_broker, monkeypatch
):
    monkeypatch.setenv("SOCBAL_TEST_MQTT_PW", PASSWORD)
    write_secrets(tmp_path, locked_broker)

    async def anonymous_refused() -> None:  # the broker really wants the login
        with pytest.raises(aiomqtt.MqttError, match="Not authorized"):
            async with aiomqtt.Client(LOOPBACK, locked_broker.port, timeout=5):
                pass

    asyncio.run(anonymous_refused())
    scenario = home_scenario_from_dict(scenario_raw(locked_broker), base_dir=tmp_path)
    with HomeInThread(scenario) as h:
        plain = controller_entry("plain", locked_broker.port, username=USER, password_file="secrets/pw.txt")
        tls = controller_entry(
            "tls", locked_broker.tls_port, username=USER, password_env="SOCBAL_TEST_MQTT_PW", tls={"ca_file": "secrets/ca.pem"}
        )
        meter = {"kind": "shelly-pro-3em", "host": LOOPBACK, "port": h.meter_port, "period_s": 1.0, "stale_after_s": 5.0}
        home = {"staging": "always-share", "period_s": 0.5, "hold_s": 5.0, "follow_s": 1.0}
        ctl = HomeController(config(tmp_path, [plain, tls], h.meter_port or 0, home=home, meter=meter))

        async def scenario_run() -> None:
            async with running(ctl):
                await until(lambda: ctl.decisions > 3 and abs(h.home.grid_w()) < 60, timeout_s=40)
                for dev_id in ("plain", "tls"):  # each carries part of the 1800 W: neither alone could
                    assert h.home.devices[dev_id].true_state().battery_power_w > 300
                    assert ctl.state()["devices"][dev_id]["online"]

        asyncio.run(scenario_run())


def home_toml(broker_port: int, login: str) -> str:
    """A home scenario file of one socbal-mqtt device on the broker at ``broker_port``, ``login`` in its [devices.mqtt]."""
    return f"""[run]
step_s = 1
horizon_h = 1
[home]
name = "login-home"
[load]
kind = "constant"
power_w = {LOAD_W}
[[devices]]
id = "plain"
protocol = "socbal-mqtt"
[devices.mqtt]
host = "{LOOPBACK}"
port = {broker_port}
base_topic = "test/login/plain"
{login}
[devices.main]
id = "main"
soc_pct = 80
capacity_wh = 2000
max_discharge_w = 1200
max_charge_w = 1200
"""


def test_a_wrong_password_stops_socbal_emulate_with_exit_2_and_one_line(tmp_path, locked_broker):
    write_secrets(tmp_path, locked_broker, password="not-the-password")
    path = tmp_path / "home.toml"
    path.write_text(home_toml(locked_broker.port, f'username = "{USER}"\npassword_file = "secrets/pw.txt"'))
    result = CliRunner().invoke(app, ["emulate", str(path), "--duration-s", "20"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    line = result.output.strip().splitlines()[-1]
    assert line.startswith(f"error: devices[0].mqtt: mqtt broker {LOOPBACK}:{locked_broker.port} refused the user 'socbal'")
    assert line.endswith("check password_env / password_file") and "not-the-password" not in result.output

    path.write_text(home_toml(locked_broker.port, ""))  # no login at all
    result = CliRunner().invoke(app, ["emulate", str(path), "--duration-s", "20"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert (
        result.output.strip()
        .splitlines()[-1]
        .endswith(
            "refused a client without username ([code:135] Not authorized): check username and password_env / password_file"
        )
    )


def test_a_wrong_password_leaves_the_controllers_device_offline_saying_why(tmp_path, locked_broker, monkeypatch):
    monkeypatch.setenv("SOCBAL_TEST_MQTT_PW", "not-the-password")

    async def scenario() -> None:
        drv = driver(locked_broker.port, username=USER, password_env="SOCBAL_TEST_MQTT_PW")
        with pytest.raises(DriverError) as err:
            await drv.read()  # starts the link
        await until(lambda: drv.link.last_error is not None, timeout_s=5)
        with pytest.raises(DriverError) as err:
            await drv.read()
        message = str(err.value)
        assert f"mqtt broker {LOOPBACK}:{locked_broker.port} refused the user 'socbal' ([code:135] Not authorized)" in message
        assert message.endswith("check password_env / password_file") and "not-the-password" not in message
        await drv.close()

        entry = controller_entry("own", locked_broker.port, username=USER, password_env="SOCBAL_TEST_MQTT_PW")
        ctl = HomeController(config(tmp_path, [entry], free_port()))  # no meter: the device is read all the same
        async with running(ctl):
            await until(lambda: "refused the user 'socbal'" in (ctl.state()["devices"]["own"]["error"] or ""), timeout_s=10)
            state = ctl.state()["devices"]["own"]
            assert not state["online"] and state["error"].endswith("check password_env / password_file")

    asyncio.run(scenario())


def test_an_unusable_login_stops_socbal_emulate_before_it_serves_with_one_line(tmp_path, locked_broker, monkeypatch):
    monkeypatch.delenv("SOCBAL_TEST_MQTT_PW", raising=False)
    write_secrets(tmp_path, locked_broker)
    raw = scenario_raw(locked_broker)
    with pytest.raises(InputError, match=r"^devices\[1\]\.mqtt: mqtt password: environment variable SOCBAL_TEST_MQTT_PW is not"):
        EmulatedHome(home_scenario_from_dict(raw, base_dir=tmp_path))
    monkeypatch.setenv("SOCBAL_TEST_MQTT_PW", PASSWORD)
    (tmp_path / "secrets" / "ca.pem").unlink()
    with pytest.raises(InputError, match=rf"^devices\[1\]\.mqtt: tls\.ca_file: file {tmp_path}/secrets/ca\.pem does not exist$"):
        EmulatedHome(home_scenario_from_dict(raw, base_dir=tmp_path))  # resolved against the scenario's folder
    (tmp_path / "secrets" / "ca.pem").write_text("not a certificate")
    with pytest.raises(InputError, match=r"^devices\[1\]\.mqtt: tls\.ca_file: file .*/ca\.pem is not a usable CA certificate"):
        EmulatedHome(home_scenario_from_dict(raw, base_dir=tmp_path))

    path = tmp_path / "home.toml"  # through the CLI: exit 2, one line
    path.write_text(home_toml(locked_broker.port, f'username = "{USER}"\npassword_file = "secrets/missing.txt"'))
    result = CliRunner().invoke(app, ["emulate", str(path), "--duration-s", "5"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    (line,) = result.output.strip().splitlines()
    assert f"devices[0].mqtt: mqtt password: cannot read secret file {tmp_path}/secrets/missing.txt" in line


def test_the_examples_login_lines_uncommented_are_a_valid_login(tmp_path):
    text = (EXAMPLES / "home_emulated_mqtt.toml").read_text()
    for line in (
        'username = "socbal"',
        'password_env = "SOCBAL_MQTT_PASSWORD"',
        "[devices.mqtt.tls]",
        'ca_file = "certs/ca.pem"',
    ):
        assert f"# {line}" in text
        text = text.replace(f"# {line}", line)
    (tmp_path / "home.toml").write_text(text)
    scenario = home_scenario_from_dict(read_toml(tmp_path / "home.toml", "scenario"), base_dir=tmp_path)
    mqtt = scenario.devices[0].mqtt
    assert mqtt is not None and mqtt.tls is not None
    assert (mqtt.username, mqtt.password_env, mqtt.tls.ca_file) == ("socbal", "SOCBAL_MQTT_PASSWORD", tmp_path / "certs/ca.pem")
    run_text = (EXAMPLES / "run_home_emulated_mqtt.toml").read_text()
    run_text = run_text.replace('# username = "socbal"', 'username = "socbal"')
    (tmp_path / "run.toml").write_text(run_text.replace('# password_env = "SOCBAL_MQTT_PASSWORD"', 'password_env = "PW"'))
    own = load_home_config(tmp_path / "run.toml").devices[0]
    assert isinstance(own, SocbalMqttDevice) and (own.username, own.password_env) == ("socbal", "PW")


def test_the_one_device_runtime_names_the_fields_of_a_refused_login(tmp_path, locked_broker, monkeypatch):
    """``socbal run`` with ``link = "mqtt"``: the same login model, the same one line as the link's error."""
    from socbal.runtime.mqtt import MqttService
    from socbal.runtime.service import Runtime
    from tests.runtime.conftest import runtime_config

    monkeypatch.setenv("SOCBAL_TEST_MQTT_PW", "not-the-password")
    cfg = runtime_config(
        tmp_path, link="mqtt", mqtt_port=locked_broker.port, mqtt={"username": USER, "password_env": "SOCBAL_TEST_MQTT_PW"}
    )
    rt = Runtime.from_config(cfg)
    assert isinstance(rt.link, MqttService)
    service = rt.link

    refused = f"mqtt broker {LOOPBACK}:{locked_broker.port} refused the user 'socbal' ([code:135] Not authorized): "
    refused += "check password_env / password_file"

    async def scenario() -> None:
        task = asyncio.create_task(service.run())
        try:
            await until(lambda: service.last_error is not None, timeout_s=5)
            assert (await service.read()).errors["link"] == f"link: {refused}"
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    try:
        asyncio.run(scenario())
        assert rt.state()["mqtt"] == {"connected": False, "error": refused}
        assert rt._service_faults() == {}  # the link's fault says it, once
    finally:
        rt.store.close()


def test_socbal_emulate_of_one_device_takes_the_runtime_configs_login_and_names_it_when_refused(
    tmp_path, locked_broker, monkeypatch
):
    """``socbal emulate SCENARIO --mqtt --config RUNTIME.toml``: the login of the runtime's ``[mqtt]``."""
    monkeypatch.setenv("SOCBAL_TEST_MQTT_PW", "not-the-password")
    rt = tmp_path / "rt.toml"
    mqtt = f'host = "{LOOPBACK}"\nport = {locked_broker.port}\nbase_topic = "test/one"\nusername = "{USER}"\n'
    pack = '[[packs]]\nid = "main"\ncapacity_wh = 1920\nmax_discharge_w = 1200\nmax_charge_w = 1200\n'
    args = ["emulate", str(EXAMPLES / "emulate_80_40.toml"), "--modbus-port", "0", "--mqtt", "--config", str(rt)]
    rt.write_text(f'link = "mqtt"\n[mqtt]\n{mqtt}password_env = "SOCBAL_TEST_MQTT_PW"\n{pack}')
    result = CliRunner().invoke(app, [*args, "--duration-s", "20"])
    assert result.exit_code == 2 and "Traceback" not in result.output and "not-the-password" not in result.output
    assert result.output.strip().splitlines()[-1] == (
        f"error: mqtt: mqtt broker {LOOPBACK}:{locked_broker.port} refused the user 'socbal' ([code:135] Not authorized): "
        "check password_env / password_file"
    )
    rt.write_text(f'link = "mqtt"\n[mqtt]\n{mqtt}[mqtt.tls]\nca_file = "missing-ca.pem"\n{pack}')
    result = CliRunner().invoke(app, [*args, "--duration-s", "5"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    (line,) = result.output.strip().splitlines()
    assert line == f"error: {rt}: mqtt: tls.ca_file: file {tmp_path / 'missing-ca.pem'} does not exist"


def test_the_homes_own_mqtt_and_its_mqtt_meter_name_the_fields_of_a_refused_login_and_keep_retrying(
    tmp_path, locked_broker, monkeypatch, caplog
):
    """``socbal run`` on a home: its ``[mqtt]`` (state, settings, discovery) and an MQTT meter refused by the broker
    say so in one line each (state, faults, event log; never the password) and try again, until the broker takes it."""
    wrong = "not-the-password"
    monkeypatch.setenv("SOCBAL_TEST_HOME_PW", wrong)
    (tmp_path / "meter-pw.txt").write_text(wrong + "\n")
    port = locked_broker.port
    login = {"host": LOOPBACK, "port": port, "username": USER}
    mqtt = {**login, "password_env": "SOCBAL_TEST_HOME_PW", "base_topic": "test/home", "client_id": "socbal-home-test"}
    meter = {"kind": "mqtt", "topic": "test/home/grid_w", "period_s": 0.2, "stale_after_s": 1.0}
    meter["broker"] = {**login, "password_file": "meter-pw.txt", "client_id": "socbal-meter-test", "discovery": False}
    unreachable = controller_entry("own", free_port())  # no device answers: the home's broker connections are the test
    ctl = HomeController.from_config(config(tmp_path, [unreachable], 0, mqtt=mqtt, meter=meter))
    refused = f"mqtt broker {LOOPBACK}:{port} refused the user 'socbal' ([code:135] Not authorized)"
    refused += ": check password_env / password_file"

    def refusals() -> int:
        return sum(1 for r in caplog.records if r.name == "socbal.homectl.mqtt" and refused in r.getMessage())

    async def scenario() -> None:
        async with running(ctl):
            await until(lambda: "mqtt" in ctl.faults.active and "meter" in ctl.faults.active, timeout_s=10)
            state = ctl.state()
            assert state["mqtt"] == {"connected": False, "error": refused}
            assert state["meter"]["error"] == f"stale: meter.broker: {refused}"
            assert ctl.faults.active["mqtt"] == refused
            logged = (f"mqtt: {refused}", f"meter: stale: meter.broker: {refused}")  # the event log follows the faults

            def fault_events() -> list[str]:
                return [e["message"] for e in ctl.store.events() if e["kind"] == "fault"]

            await until(lambda: all(line in fault_events() for line in logged), timeout_s=5)
            await until(lambda: refusals() >= 2, timeout_s=5)  # it tries again (0.5 s, then 1 s later...)

            locked_broker.change_password(wrong)  # the broker now takes the login it refused: both connect on their own
            await until(lambda: ctl.state()["mqtt"] == {"connected": True, "error": None}, timeout_s=10)
            async with aiomqtt.Client(LOOPBACK, port, username=USER, password=wrong, timeout=5) as sensor:
                await until(lambda: ctl.meter.last_error is None, timeout_s=10)
                await sensor.publish("test/home/grid_w", "-420")
                await until(lambda: ctl.state()["meter"]["grid_power_w"] == -420.0, timeout_s=5)
            assert "mqtt" not in ctl.faults.active
            assert wrong not in json.dumps(ctl.state()) and wrong not in caplog.text

    with caplog.at_level(logging.WARNING):
        asyncio.run(scenario())
