"""Fixtures for the runtime tests: free loopback ports, a mosquitto broker, config builders.

Everything listens on 127.0.0.1 only, and every fixture stops what it started.
"""

from __future__ import annotations

import asyncio
import collections
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from socbal.runtime.config import RuntimeConfig, config_from_dict

LOOPBACK = "127.0.0.1"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
#: How long a ``socbal`` subprocess may take to listen, s: it imports and loads the compiled EMS first, 3-8 s on an
#: idle machine, 24-34 s measured at load 10 on 2 cores (the 30 s the tests gave it was lost once there).
SUBPROCESS_START_S = 90.0


#: The ports :func:`free_port` handed out last in this process (the oldest forgotten first).
_HANDED_OUT: collections.deque[int] = collections.deque(maxlen=1000)


def free_port() -> int:
    """A TCP port free on the loopback address right now, none of the last 1000 handed out in this process.

    The kernel picks a port at random for each ``bind(0)``, so two calls in a row (a home's three devices and its
    meter, none bound yet) return the same port about once in 14,000 pairs: the home would then be refused as two
    devices on one port, or one server would not get its port."""
    while True:
        with socket.socket() as s:
            s.bind((LOOPBACK, 0))
            port = s.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.append(port)
            return port


def wait_for_port(port: int, timeout_s: float = 10.0) -> None:
    """Block until something accepts connections on 127.0.0.1:``port``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex((LOOPBACK, port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {LOOPBACK}:{port} after {timeout_s} s")


async def wait_until(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for: {what}")
        await asyncio.sleep(0.05)


async def assert_a_lost_broker_ends_the_state_publish(broker, mqtt, state: dict) -> None:
    """Run ``mqtt`` (a connected settings broker), pause ``broker`` under a state publish (its QoS-1 values wait for
    an acknowledgement), kill it, and assert the publish ended within 1 s (plus the loop's stall) of the kill."""
    from tests.emulators.harness import LoopLag  # here: the harness imports this module's LOOPBACK

    run = asyncio.create_task(mqtt.run())
    try:
        await wait_until(lambda: mqtt.connected, 10, "connected")
        broker.proc.send_signal(signal.SIGSTOP)  # alive but silent: no acknowledgement comes
        publish = asyncio.create_task(mqtt.publish_state(state))
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


async def stop_all(events, tasks) -> None:
    """Set every stop event and wait (bounded) for every task to end."""
    for e in events:
        e.set()
    await asyncio.wait(tasks, timeout=10)


def emulated_device(**kwargs):
    """The 80/40 % example device, in process, at 60x with a 1 s watchdog."""
    from socbal.runtime.emulator import EmulatedDevice
    from socbal.scenario import load_scenario

    return EmulatedDevice(load_scenario(EXAMPLES / "emulate_80_40.toml"), speed=60.0, watchdog_s=1.0, **kwargs)


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or next((p for p in ("/usr/sbin/mosquitto",) if Path(p).exists()), None)


class Broker:
    """A mosquitto broker on a loopback port with a temporary config; can be stopped and restarted."""

    def __init__(self, binary: str, folder: Path) -> None:
        self.binary = binary
        self.port = free_port()
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} {LOOPBACK}\nallow_anonymous true\npersistence false\nlog_dest stderr\nlog_type error\n"
        )
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([self.binary, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None


@pytest.fixture
def broker(tmp_path):
    binary = mosquitto_binary()
    if binary is None:
        if os.environ.get("SOCBAL_REQUIRE_SERVICES"):  # set by .ci/run: CI must not skip
            raise RuntimeError("SOCBAL_REQUIRE_SERVICES is set but mosquitto is not installed (apt-get install -y mosquitto)")
        pytest.skip("mosquitto is not installed (apt-get install -y mosquitto); CI installs it")
    b = Broker(binary, tmp_path)
    b.start()
    try:
        yield b
    finally:
        b.stop()


def runtime_config(
    tmp_path: Path,
    link: str = "modbus",
    modbus_port: int | None = None,
    mqtt_port: int | None = None,
    mqtt: dict | None = None,
    http: dict | None = None,
    **runtime,
) -> RuntimeConfig:
    """A two-pack (main, p1) config for tests: fast period, short age and watchdog (``mqtt``/``http``: extra keys)."""
    raw: dict = {
        "name": "test",
        "link": link,
        "runtime": {
            "period_s": 0.1,
            "max_telemetry_age_s": 0.6,
            "watchdog_s": 1,
            "state_db": "state.sqlite",
            "reconnect_min_s": 0.1,
            "reconnect_max_s": 0.4,
            **runtime,
        },
        "settings": {"backup_reserve_pct": 10, "strategy": "spec"},
        "device": {"ac_output_limit_w": 2400, "aux_power_module": True},
        "packs": [
            {"id": "main", "capacity_wh": 1920, "max_discharge_w": 1200, "max_charge_w": 1200},
            {"id": "p1", "capacity_wh": 1920, "max_discharge_w": 1200, "max_charge_w": 1200},
        ],
    }
    if modbus_port is not None:
        raw["modbus"] = {"host": LOOPBACK, "port": modbus_port, "timeout_s": 0.5}
    if mqtt_port is not None:
        raw["mqtt"] = {
            "host": LOOPBACK,
            "port": mqtt_port,
            "base_topic": "test/dev",
            "keepalive_s": 5,
            "client_id": f"rt-{mqtt_port}",
            **(mqtt or {}),
        }
    if http is not None:
        raw["http"] = {"enabled": True, "host": LOOPBACK, "port": 0, **http}
    return config_from_dict(raw, base_dir=tmp_path)
