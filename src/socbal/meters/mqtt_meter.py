"""A meter on an MQTT topic (e.g. a Home Assistant sensor): the payload is a number, or a JSON object
holding the number under ``json_key``; W, + import / - export (``invert`` flips a sensor that counts export positive)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Literal

import aiomqtt
from pydantic import Field

from socbal.meters.base import MeterConfig, MeterError, MeterReading
from socbal.runtime.config import MqttConfig
from socbal.runtime.mqtt_login import BrokerConnection, checked_password

#: Retry delays after a lost or refused broker connection (doubling), s.
RECONNECT_MIN_S, RECONNECT_MAX_S = 0.5, 30.0


class MqttMeterConfig(MeterConfig):
    """``kind = "mqtt"``: the broker (as ``[mqtt]`` of the runtime) and the topic."""

    kind: Literal["mqtt"] = "mqtt"
    broker: MqttConfig = Field(default_factory=lambda: MqttConfig(client_id="socbal-meter", discovery=False))
    topic: str = Field(min_length=1, pattern=r"^[^#+]+$")
    json_key: str | None = Field(None, description="Key of the number in a JSON object payload; None: the payload is a number")
    invert: bool = Field(False, description="The sensor counts export as positive")


def parse_power_w(payload: bytes, json_key: str | None) -> float:
    """The power in one payload, W; ``ValueError`` on anything else."""
    data = json.loads(payload.decode("utf-8"))
    if json_key is not None:
        if not isinstance(data, dict):
            raise ValueError("payload is not a JSON object")
        data = data[json_key] if json_key in data else None
    if isinstance(data, bool) or not isinstance(data, int | float):
        raise ValueError(f"payload holds {data!r}, not a number")
    value = float(data)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("payload is not a finite number")
    return value


class MqttMeter:
    """Subscribes in the background; :meth:`read` returns the newest reading while it is fresh. The broker's login and
    TLS are checked at construction (:class:`InputError` naming ``meter.broker``'s field)."""

    def __init__(self, config: MqttMeterConfig) -> None:
        self.config = config
        password = checked_password(config.broker, "meter.broker")
        self.connection = BrokerConnection(config.broker, password, config.broker.client_id)
        self.last: MeterReading | None = None
        self.ignored = 0  # payloads that held no number
        #: Why the broker is not connected (one line; a refused login or TLS names the fields to fix); None once connected.
        self.last_error: str | None = None
        self._task: asyncio.Task | None = None

    async def _listen(self) -> None:
        cfg = self.config
        backoff = RECONNECT_MIN_S
        while True:
            try:
                async with self.connection.client() as client:
                    await client.subscribe(cfg.topic)
                    self.last_error, backoff = None, RECONNECT_MIN_S
                    async for msg in client.messages:
                        payload = msg.payload if isinstance(msg.payload, bytes) else str(msg.payload).encode()
                        try:
                            value = parse_power_w(payload, cfg.json_key)
                        except (ValueError, KeyError, UnicodeDecodeError):
                            self.ignored += 1
                            continue
                        self.last = MeterReading(grid_power_w=-value if cfg.invert else value, time_s=time.monotonic())
            except (aiomqtt.MqttError, OSError) as err:
                self.last_error = self.connection.describe(err)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2.0, RECONNECT_MAX_S)

    async def read(self) -> MeterReading:
        """The newest reading; :class:`MeterError` when there is none newer than ``stale_after_s`` (saying why the
        broker is not connected, when it is not)."""
        if self._task is None:
            self._task = asyncio.create_task(self._listen())
        if self.last is None or self.last.age_s() > self.config.stale_after_s:
            if self.last_error is not None:
                raise MeterError(f"meter.broker: {self.last_error}")
            raise MeterError(f"meter: nothing on {self.config.topic} for {self.config.stale_after_s:g} s")
        return self.last

    async def close(self) -> None:
        """Stop listening."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
