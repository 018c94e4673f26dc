"""socbal's MQTT device schema from the controller's side, on its own broker connection (aiomqtt).

The topics and payloads are those of :mod:`socbal.runtime.mqtt` (the per-pack runtime's ``link = "mqtt"``,
served by ``socbal emulate --mqtt``), under the device's ``base_topic``:

- in: ``<base>/device/packs/<id>/telemetry`` (JSON ``soc_pct``, ``power_w``, ``max_discharge_w``,
  ``max_charge_w``, ``online``, optional ``ts`` Unix s), ``<base>/device/status`` (``online`` / ``offline``,
  retained: the device's last will);
- out: ``<base>/device/setpoints`` (``{"seq": n, "watchdog_s": s, "packs": {"<id>": W}}``, QoS 0, never
  retained: a lost message is replaced by the next one, never replayed), ``<base>/runtime/status``
  (``online`` on connect; ``offline`` retained as the last will and at close: the device goes to 0 W at once).

The connection runs in a background task started by the first :meth:`read` or :meth:`write`, reconnecting with
exponential backoff; the newest message per topic waits, nothing older. Never raises on I/O: a lost broker,
or a device that says ``offline``, shows in ``Telemetry.errors["link"]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time

import aiomqtt
from pydantic import SecretStr

from socbal.runtime.config import MqttConfig
from socbal.runtime.mqtt import Topics, UndatedReading, inbox_queue, parse_pack_payload, payload_bytes
from socbal.runtime.mqtt_login import BrokerConnection
from socbal.runtime.ratelimit import ThrottledLog
from socbal.runtime.telemetry import PackReading, Telemetry

log = logging.getLogger("socbal.drivers.mqtt_link")


class MqttDeviceLink:
    """A :class:`~socbal.runtime.link.DeviceLink` over socbal's MQTT device topics (see the module docstring)."""

    def __init__(
        self,
        broker: MqttConfig,
        password: SecretStr | None,
        pack_ids: list[str],
        publish_timeout_s: float,
        reconnect_min_s: float = 0.2,
        reconnect_max_s: float = 5.0,
    ) -> None:
        self.broker = broker
        self.topics = Topics(broker.base_topic)
        will = aiomqtt.Will(self.topics.status, "offline", qos=1, retain=True)
        queue = inbox_queue(lambda _m: True, lambda _m: False)  # the newest per topic waits
        self.connection = BrokerConnection(broker, password, broker.client_id, will, queue_type=queue)
        self.publish_timeout_s = publish_timeout_s
        self.reconnect_min_s = reconnect_min_s
        self.reconnect_max_s = reconnect_max_s
        self._packs: dict[str, PackReading | None] = dict.fromkeys(pack_ids)
        self._errors: dict[str, str] = {}
        self._client: aiomqtt.Client | None = None
        self._task: asyncio.Task | None = None
        self._reported = asyncio.Event()  # every pack has reported once
        self._seq = 0
        self.device_online = True  # False while the device's status topic says offline
        self.connects = 0
        self.setpoints_sent = 0
        self.last_error: str | None = None
        self.rejects = ThrottledLog(log)

    def _start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"mqtt-link:{self.topics.base}")

    async def _run(self) -> None:
        """Connect, subscribe, take messages; on a lost broker retry with exponential backoff. Cancel to stop."""
        backoff = self.reconnect_min_s
        while True:
            try:
                async with self.connection.client() as client:
                    await client.subscribe([(self.topics.pack_telemetry_filter, 0), (self.topics.device_status, 1)])
                    await client.publish(self.topics.status, "online", qos=1, retain=True)
                    self._client, self.last_error = client, None
                    self.connects += 1
                    backoff = self.reconnect_min_s
                    async for message in client.messages:
                        self._handle(message)
            except (aiomqtt.MqttError, OSError) as err:
                self.last_error = f"link: {self.connection.describe(err)}"
                self._client = None
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2.0, self.reconnect_max_s)
            finally:
                self._client = None

    def _handle(self, message: aiomqtt.Message) -> None:
        payload = payload_bytes(message)
        if message.topic.matches(self.topics.device_status):
            self.device_online = payload.strip() != b"offline"
            return
        if not message.topic.matches(self.topics.pack_telemetry_filter):
            return
        pack_id = str(message.topic).split("/")[-2]
        if pack_id not in self._packs:
            return
        try:
            self._packs[pack_id] = parse_pack_payload(payload, time.monotonic(), require_ts=message.retain)
            self._errors.pop(pack_id, None)
        except UndatedReading as err:  # an old retained message: the reading held so far stays
            self.rejects.warning(f"mqtt: {message.topic}: {err}: ignored")
        except ValueError as err:
            self._packs[pack_id] = None
            self._errors[pack_id] = f"garbage: {err}"
        if all(r is not None for r in self._packs.values()):
            self._reported.set()

    async def read(self, wait_s: float = 0.0) -> Telemetry:
        """The latest telemetry received (``errors["link"]`` while the broker is unreachable or the device says
        offline); waits up to ``wait_s`` for every pack to have reported once."""
        self._start()
        if wait_s > 0 and not self._reported.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._reported.wait(), wait_s)
        tel = Telemetry(packs=dict(self._packs), errors=dict(self._errors))
        if self._client is None:
            tel.errors["link"] = self.last_error or f"link: mqtt broker {self.broker.host}:{self.broker.port} not connected"
        elif not self.device_online:
            tel.errors["link"] = f"link: the device says offline on {self.topics.device_status}"
        return tel

    async def write(self, setpoints_w: dict[str, float], watchdog_s: int) -> bool:
        """Publish per-pack setpoints (W, + discharge / - charge) with the watchdog timeout; False when not sent."""
        self._start()
        client = self._client
        if client is None:
            return False
        self._seq += 1
        body = {"seq": self._seq, "watchdog_s": watchdog_s, "packs": setpoints_w}
        try:
            await client.publish(self.topics.setpoints, json.dumps(body), qos=0, timeout=self.publish_timeout_s)
        except aiomqtt.MqttError as err:
            self.last_error = f"link: mqtt publish to {self.topics.setpoints} failed: {err}"
            return False
        self.setpoints_sent += 1
        return True

    async def close(self) -> None:
        """Say ``offline`` (retained) while still connected, so that the device stops at once; then disconnect."""
        client = self._client
        if client is not None:
            with contextlib.suppress(aiomqtt.MqttError):
                await client.publish(self.topics.status, "offline", qos=1, retain=True, timeout=self.publish_timeout_s)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
