"""What the per-pack runtime (:class:`~socbal.runtime.service.Runtime`) and the live home controller share.

Both hold a state database (its instance lock from construction until ``run`` ends, or :meth:`close`),
a settings controller, an optional MQTT connection and an optional HTTP API, run as supervised tasks
(restarted with backoff, their health in ``state()["tasks"]``). :class:`SupervisedService` keeps those
parts, the cycle counters, the fault event of a failed cycle and the shutdown of the tasks; the
subclass adds its own cycle, state and the safe stop of its devices.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import time
from typing import ClassVar, Generic, Protocol, TypeVar

from pydantic import BaseModel, SecretStr

from socbal.runtime.api import ApiTask, create_app
from socbal.runtime.config import HttpConfig, MqttConfig
from socbal.runtime.mqtt_login import check_tls
from socbal.runtime.secrets import read_token
from socbal.runtime.settings import SettingsController
from socbal.runtime.store import StateStore
from socbal.runtime.supervise import Supervisor
from socbal.runtime.telemetry import FaultTracker

S = TypeVar("S", bound=BaseModel)


def service_secrets(mqtt: MqttConfig | None, http: HttpConfig) -> tuple[SecretStr | None, SecretStr | None, SecretStr | None]:
    """(MQTT password, MQTT settings token, HTTP API token) a live runtime's ``[mqtt]`` and ``[http]`` name, read once
    at start, and ``[mqtt]``'s TLS files loaded (:class:`InputError` when one is named but missing or unusable); None
    for what is not configured."""
    password = settings_token = api_token = None
    if mqtt is not None:
        password = mqtt.password("mqtt password")
        check_tls(mqtt, "mqtt")
        settings_token = read_token(
            "mqtt settings token", mqtt.settings_token_env, mqtt.settings_token_file, "mqtt.settings_token_env"
        )
    if http.enabled:
        api_token = read_token("http token", http.token_env, http.token_file, "http.token_env (a read-only API without a token)")
    return password, settings_token, api_token


class Broker(Protocol):
    """The MQTT connection as the service uses it: a task to supervise, a state to publish, a close; while it is not
    connected, why (``last_error``, one line)."""

    last_error: str | None

    @property
    def connected(self) -> bool: ...

    async def run(self) -> None: ...

    async def publish_state(self, state: dict) -> None: ...

    async def close(self) -> None: ...


class SupervisedService(abc.ABC, Generic[S]):
    """The store, settings, MQTT and HTTP tasks and cycle bookkeeping of a live controller (see the module docstring).

    The subclass builds ``store``, ``settings`` and ``mqtt`` first and then calls this ``__init__``.
    ``logger`` and ``cycle_failed_text`` name the subclass in the log.
    """

    logger: ClassVar[logging.Logger]
    cycle_failed_text: ClassVar[str]

    def __init__(
        self,
        store: StateStore,
        settings: SettingsController[S],
        http: HttpConfig,
        mqtt: Broker | None,
        api_token: SecretStr | None,
        restart_min_s: float,
        restart_max_s: float,
    ) -> None:
        self.store = store
        self.settings = settings
        self.http = http
        self.mqtt = mqtt
        self.api_token = api_token
        self.supervisor = Supervisor(restart_min_s, restart_max_s, on_death=self._task_died)
        self.faults = FaultTracker()
        self.phase = "starting"
        self._started_s = time.monotonic()
        self.cycles = 0
        self.last_cycle_s = 0.0
        self.max_cycle_s = 0.0
        self.http_port: int | None = None
        self._api: ApiTask | None = None
        self._logged: tuple[dict[str, float], float] | None = None  # last logged setpoints and when

    @abc.abstractmethod
    def state(self) -> dict:
        """What the service knows now (HTTP ``/status``, MQTT state); no secrets."""

    def close(self) -> None:
        """Close the state database and release its lock (for a service that never ran)."""
        self.store.close()

    def _service_state(self) -> dict:
        """The end of :meth:`state`: active faults, task health, the broker connection and the event log's queue."""
        mqtt = {"connected": self.mqtt.connected, "error": self.mqtt.last_error} if self.mqtt is not None else None
        return {
            "faults": dict(self.faults.active),
            "mqtt": mqtt,
            "tasks": self.supervisor.snapshot(),
            "eventlog": {"pending": self.store.writer.pending, "dropped": self.store.writer.dropped, "fault": self.store.fault},
        }

    def _task_died(self, name: str, reason: str) -> None:
        self.store.log("fault", f"task {name} died: {reason}; restarting")

    def _broker_faults(self) -> dict[str, str]:
        """``mqtt``: why the broker is not connected (a refused login or TLS names the fields), while it is not."""
        error = self.mqtt.last_error if self.mqtt is not None else None
        return {"mqtt": error} if error is not None else {}

    def _service_faults(self) -> dict[str, str]:
        """Faults of the service itself: the event log's, the broker's, and one per supervised task that is down."""
        faults: dict[str, str] = self._broker_faults()
        if self.store.fault is not None:
            faults["eventlog"] = self.store.fault
        for name, health in self.supervisor.health.items():
            if not health.running:
                faults[f"task:{name}"] = f"task: {name} is down ({health.last_error}); restarting"
        return faults

    def _log_setpoints_when_due(
        self, setpoints_w: dict[str, float], now_s: float, deadband_w: float, interval_s: float, data: dict
    ) -> None:
        """A ``setpoints`` event when a setpoint moved more than ``deadband_w`` (W) or ``interval_s`` (s) has passed."""
        if self._logged is not None:
            last, when = self._logged
            moved = any(abs(v - last.get(k, 0.0)) > deadband_w for k, v in setpoints_w.items())
            if not moved and now_s - when < interval_s:
                return
        self._logged = (dict(setpoints_w), now_s)
        text = ", ".join(f"{k}={v:.0f} W" for k, v in setpoints_w.items())
        self.store.log("setpoints", text, data=data)

    async def _cycle_done(self, started_s: float) -> None:
        """Count a cycle that began at ``started_s`` (monotonic, s) and publish the state over MQTT."""
        self.cycles += 1
        self.last_cycle_s = time.monotonic() - started_s
        self.max_cycle_s = max(self.max_cycle_s, self.last_cycle_s)
        if self.mqtt is not None:
            await self.mqtt.publish_state(self.state())

    def _cycle_failed(self, err: Exception) -> None:
        """A bug in a cycle: one fault event (not one per cycle), a traceback in the log."""
        new, _ = self.faults.update({**self.faults.active, "internal": f"internal: {err!r}"})
        if new:
            self.store.log("fault", f"internal: {err!r}")
        self.logger.error(self.cycle_failed_text, exc_info=err)

    async def _start_services(self) -> None:
        """Start the MQTT and HTTP tasks (as configured) and wait until the API listens (its port in ``http_port``)."""
        if self.mqtt is not None:
            self.supervisor.start("mqtt", self.mqtt.run)
        if self.http.enabled:
            self._api = ApiTask(create_app(self.state, self.settings, self.store, self.api_token, self.http), self.http)
            self.supervisor.start("http", self._api.serve)
            self.http_port = await self._api.wait_listening()

    async def _stop_services(self) -> None:
        """Say goodbye over MQTT, stop the HTTP server and every supervised task."""
        if self.mqtt is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.mqtt.close(), timeout=2)
        self.supervisor.stopping()
        if self._api is not None:
            await self._api.stop(self.supervisor.tasks.get("http"))
        await self.supervisor.stop()

    async def _close_store(self, text: str) -> None:
        """The ``stop`` event, then the store closed off the event loop (its lock released)."""
        self.store.log("stop", text)
        await asyncio.to_thread(self.store.close)
