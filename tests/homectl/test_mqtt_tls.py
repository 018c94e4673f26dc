"""Client certificates (mutual TLS) and ``tls.insecure`` over real sockets: a mosquitto on 127.0.0.1 with a listener
that wants a client certificate (``require_certificate true``) and one whose certificate names another host, all made
by a CA made here. The MQTT meter, a ``socbal-mqtt`` device of ``socbal run`` and of ``socbal emulate HOME.toml`` get
in with a certificate from the CA; a missing or foreign one, or a broker certificate for another name, is one line
naming the fields to fix (the emulated device stops: ``socbal emulate`` exits 2, as for a refused password). An
independent client, on the ssl module alone, publishes. Unusable certificate files stop ``socbal run`` at start."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import ssl
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
from socbal.homectl.config import load_home_config
from socbal.homectl.controller import HomeController
from socbal.meters.base import MeterError
from socbal.meters.registry import meter_config, open_meter
from socbal.tomlfile import read_toml
from tests.emulators.harness import until
from tests.homectl.test_mqtt_login import home_toml
from tests.homectl.test_socbal_mqtt import driver
from tests.runtime.certs import TestCA
from tests.runtime.conftest import EXAMPLES, LOOPBACK, Broker, free_port, mosquitto_binary, wait_for_port

OTHER_NAME = "broker.example"  # the name the misnamed listener's certificate holds (not 127.0.0.1)
TOPIC = "test/tls/grid_w"


@dataclass
class TlsBroker:
    """``mutual_port``: TLS wanting a client certificate from ``ca``; ``misnamed_port``: TLS, its certificate for
    ``OTHER_NAME``. ``client``: a certificate and key from ``ca``; ``foreign``: from a CA the broker does not know."""

    mutual_port: int
    misnamed_port: int
    ca: TestCA
    client: tuple[Path, Path]
    foreign: tuple[Path, Path]


@pytest.fixture
def tls_broker(tmp_path):
    binary = mosquitto_binary()
    if binary is None:
        pytest.skip("mosquitto is not installed (apt-get install -y mosquitto)")
    folder = tmp_path / "broker"
    folder.mkdir()
    ca = TestCA(folder)
    broker_cert, broker_key = ca.issue("broker", LOOPBACK)
    misnamed_cert, misnamed_key = ca.issue("misnamed", OTHER_NAME)
    b = Broker(binary, folder)
    misnamed_port = free_port()
    b.conf.write_text(
        f"user {getpass.getuser()}\n"  # as root it would drop to the user mosquitto, who cannot read tmp_path
        "per_listener_settings false\nallow_anonymous true\npersistence false\nlog_dest stderr\nlog_type error\n"
        f"listener {b.port} {LOOPBACK}\ncafile {ca.file}\ncertfile {broker_cert}\nkeyfile {broker_key}\n"
        "require_certificate true\n"
        f"listener {misnamed_port} {LOOPBACK}\ncafile {ca.file}\ncertfile {misnamed_cert}\nkeyfile {misnamed_key}\n"
    )
    b.start()  # waits for the first listener only
    wait_for_port(misnamed_port)
    try:
        yield TlsBroker(b.port, misnamed_port, ca, ca.issue("client"), TestCA(folder, "foreign-ca").issue("foreign"))
    finally:
        b.stop()


async def publish_retained(port: int, ca_file: Path, client: tuple[Path, Path] | None, value: str, check_name: bool) -> None:
    """``value`` retained on ``TOPIC``, from a client on the ssl module alone."""
    ctx = ssl.create_default_context(cafile=str(ca_file))
    ctx.check_hostname = check_name
    if client is not None:
        ctx.load_cert_chain(str(client[0]), str(client[1]))
    async with aiomqtt.Client(LOOPBACK, port, tls_context=ctx, tls_insecure=not check_name, timeout=5) as sensor:
        await sensor.publish(TOPIC, value, qos=1, retain=True)


def mqtt_meter(port: int, **tls):
    """The MQTT meter on ``TOPIC`` at ``port`` with ``tls``."""
    broker = {"host": LOOPBACK, "port": port, "client_id": f"meter-{len(tls)}", "discovery": False, "tls": tls}
    return open_meter(meter_config({"kind": "mqtt", "broker": broker, "topic": TOPIC, "stale_after_s": 30}))


async def reading_w(meter) -> float:
    """The meter's first reading, W (its first read starts it)."""
    with contextlib.suppress(MeterError):
        await meter.read()
    await until(lambda: meter.last is not None, timeout_s=10)
    return (await meter.read()).grid_power_w


#: Under TLS 1.3 the broker's alert on a client certificate can be lost: the client's CONNECT, written after its half
#: of the handshake, reaches a socket the broker has closed unread, whose reset drops the alert unread on the client's
#: side too. That attempt fails on a bare TLS EOF and is retried (no refusal is said without the alert); the test
#: waits for the attempt whose alert arrives.
CERTIFICATE_NAMED_WITHIN_S = 20.0


def names(error: str | None, what: str) -> bool:
    """The connection error names ``what``: "client certificate" (what the broker's TLS alert says), or "its
    certificate" (the broker's, refused by the client itself)."""
    return error is not None and what in error


async def driver_error(drv, what: str) -> str:
    """The driver's read error once its link's connection error names ``what`` (see :func:`names`)."""
    with pytest.raises(DriverError):
        await drv.read()  # starts the link
    await until(lambda: names(drv.link.last_error, what), timeout_s=CERTIFICATE_NAMED_WITHIN_S)
    with pytest.raises(DriverError) as err:
        await drv.read()
    await drv.close()
    return str(err.value)


def test_a_client_certificate_from_the_ca_gets_in_and_a_missing_or_foreign_one_is_named(tmp_path, tls_broker):
    b = tls_broker
    ca = str(b.ca.file)
    cert, key = (str(p) for p in b.client)
    foreign_cert, foreign_key = (str(p) for p in b.foreign)
    broker = f"{LOOPBACK}:{b.mutual_port}"
    path = tmp_path / "home.toml"  # an emulated home's device with the foreign certificate
    tls = f'[devices.mqtt.tls]\nca_file = "{ca}"\ncert_file = "{foreign_cert}"\nkey_file = "{foreign_key}"'
    path.write_text(home_toml(b.mutual_port, tls))

    async def emulated_refusal() -> str:
        home = EmulatedHome(home_scenario_from_dict(read_toml(path, "scenario"), base_dir=tmp_path))
        with pytest.raises(InputError) as err:  # socbal emulate says it and stops (exit 2)
            await home.brokers["plain"].endpoint.run()
        return str(err.value)

    async def scenario() -> None:
        emulated = asyncio.create_task(emulated_refusal())  # a refused certificate shows when aiomqtt's wait for CONNACK ends
        await publish_retained(b.mutual_port, b.ca.file, b.client, "250", check_name=True)
        good, without = mqtt_meter(b.mutual_port, ca_file=ca, cert_file=cert, key_file=key), mqtt_meter(b.mutual_port, ca_file=ca)
        own = driver(b.mutual_port, tls={"ca_file": ca, "cert_file": cert, "key_file": key})
        foreign = driver(b.mutual_port, tls={"ca_file": ca, "cert_file": foreign_cert, "key_file": foreign_key})
        with pytest.raises(MeterError):
            await without.read()  # starts it
        with pytest.raises(DriverError):
            await own.read()
        refused, watts = await asyncio.gather(driver_error(foreign, "client certificate"), reading_w(good))
        assert watts == 250.0
        await until(lambda: own.link.connects >= 1, timeout_s=10)
        await own.close()
        assert refused == (
            f"own: link: mqtt broker {broker} refused the client certificate (tlsv1 alert unknown ca): "
            "check tls.cert_file / key_file"
        )
        await until(lambda: names(without.last_error, "client certificate"), timeout_s=CERTIFICATE_NAMED_WITHIN_S)
        with pytest.raises(MeterError) as err:
            await without.read()
        assert str(err.value) == (
            f"meter.broker: mqtt broker {broker} wants a client certificate (tlsv13 alert certificate required): "
            "give tls.cert_file / key_file"
        )
        await good.close()
        await without.close()
        assert await emulated == (
            f"devices[0].mqtt: mqtt broker {broker} refused the client certificate (tlsv1 alert unknown ca): "
            "check tls.cert_file / key_file"
        )

    asyncio.run(scenario())


def test_insecure_takes_a_broker_certificate_for_another_name_that_the_default_refuses(tls_broker):
    b = tls_broker
    ca = str(b.ca.file)
    broker = f"{LOOPBACK}:{b.misnamed_port}"

    async def scenario() -> None:
        await publish_retained(b.misnamed_port, b.ca.file, None, "-75", check_name=False)
        insecure = mqtt_meter(b.misnamed_port, ca_file=ca, insecure=True)
        named, untrusted = await asyncio.gather(
            # the default checks the name; insecure still wants a CA it trusts
            driver_error(driver(b.misnamed_port, tls={"ca_file": ca}), "its certificate"),
            driver_error(driver(b.misnamed_port, tls={"insecure": True}), "its certificate"),
        )
        assert named == (
            f"own: link: mqtt broker {broker}: its certificate does not name {LOOPBACK} (IP address mismatch, certificate "
            f"is not valid for '{LOOPBACK}'.): set host to a name it holds, or tls.insecure = true to skip the host-name check"
        )
        trusted = f"own: link: mqtt broker {broker}: its certificate is not trusted ("  # OpenSSL says why
        assert untrusted.startswith(trusted) and untrusted.endswith("): check tls.ca_file")
        assert await reading_w(insecure) == -75.0
        await insecure.close()

    asyncio.run(scenario())


def run_home_toml(tmp_path: Path, meter_tls: str, mqtt_tls: str = "") -> Path:
    """The example home of ``socbal run`` with an MQTT meter (its ``[meter.broker.tls]``: ``meter_tls``) and, given
    ``mqtt_tls``, the home's own ``[mqtt]`` with that TLS."""
    text = (EXAMPLES / "run_home_emulated_mqtt.toml").read_text()
    text = text[: text.index("\n[meter]")] + f'\n[meter]\nkind = "mqtt"\ntopic = "{TOPIC}"\n[meter.broker]\nport = 8883\n'
    text += f'[meter.broker.tls]\n{meter_tls}\n[store]\npath = "home.sqlite"\n'
    if mqtt_tls:
        text += f'[mqtt]\nport = 8883\nbase_topic = "test/tls/home"\n[mqtt.tls]\n{mqtt_tls}\n'
    path = tmp_path / "run.toml"
    path.write_text(text)
    return path


def test_unusable_client_certificate_fields_stop_the_start_naming_the_field(tmp_path):
    ca = TestCA(tmp_path)
    cert, key = ca.issue("client")
    _, other_key = ca.issue("other")
    (tmp_path / "garbage.pem").write_text("not a certificate")
    ok = f'ca_file = "{ca.file}"\ncert_file = "client.pem"\nkey_file = "client.key"'  # relative to the config's folder
    cfg = load_home_config(run_home_toml(tmp_path, ok, ok))
    assert cfg.meter.broker.tls.cert_file == cert and cfg.mqtt.tls.key_file == key
    HomeController.from_config(cfg).close()  # both load

    cases = [
        ('cert_file = "missing.pem"', f"tls.cert_file: file {tmp_path / 'missing.pem'} does not exist"),
        (
            'cert_file = "garbage.pem"\nkey_file = "client.key"',
            f"tls.cert_file {tmp_path / 'garbage.pem'} / tls.key_file {key}: not a usable certificate and private key (PEM)",
        ),
        (
            'cert_file = "client.pem"',  # the key neither given nor in the certificate's file
            f"tls.cert_file {cert} (holding the key): not a usable certificate and private key (PEM)",
        ),
        (
            'cert_file = "client.pem"\nkey_file = "other.key"',
            f"tls.key_file: file {other_key} is not the key of tls.cert_file {cert}",
        ),
        ('ca_file = "garbage.pem"', f"tls.ca_file: file {tmp_path / 'garbage.pem'} is not a usable CA certificate (PEM)"),
    ]
    for tls, message in cases:
        for meter_tls, mqtt_tls, where in ((tls, "", "meter.broker"), (ok, tls, "mqtt")):
            result = CliRunner().invoke(app, ["run", str(run_home_toml(tmp_path, meter_tls, mqtt_tls))])
            assert result.exit_code == 2 and "Traceback" not in result.output, result.output
            (line,) = result.output.strip().splitlines()
            assert line.startswith(f"error: {where}: {message}"), line
    with pytest.raises(InputError, match=r"meter\.broker\.tls: .*key_file needs cert_file"):
        load_home_config(run_home_toml(tmp_path, 'key_file = "client.key"'))
