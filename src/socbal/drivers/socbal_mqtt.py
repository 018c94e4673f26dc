"""socbal's own device over its MQTT schema (``socbal emulate --mqtt``, or hardware speaking it), as one home device.

The packs are shared and the watchdog written as :mod:`socbal.drivers.socbal_packs` says; this module adds the
transport: :class:`~socbal.drivers.mqtt_link.MqttDeviceLink` on the device's broker and ``base_topic``. A dead
socbal leaves the device safe twice over: its last will on ``<base>/runtime/status`` (``offline``, sent by the
broker as soon as socbal's connection drops, or about 1.5 × ``keepalive_s`` after its host went silent) stops the
packs at once, and every setpoint expires after ``watchdog_s``. A reading's time is when its oldest pack telemetry
was taken (``ts``, else its arrival).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

from pydantic import Field, model_validator

from socbal.drivers.base import DeviceTelemetry
from socbal.drivers.mqtt_link import MqttDeviceLink
from socbal.drivers.socbal_packs import SocbalPacksConfig, SocbalPacksDriver
from socbal.runtime.config import BrokerLogin, MqttConfig
from socbal.runtime.mqtt_login import checked_password
from socbal.runtime.telemetry import PackReading


class SocbalMqttConfig(SocbalPacksConfig, BrokerLogin):
    """``driver = "socbal-mqtt"``: a socbal device (packs behind their own DC-DC modules) on an MQTT broker."""

    driver: Literal["socbal-mqtt"] = "socbal-mqtt"
    host: str = Field(min_length=1, description="MQTT broker address (IP or host name)")
    port: int = Field(1883, ge=1, le=65535, description="MQTT broker port")
    base_topic: str = Field(
        "socbal/device1", min_length=1, pattern=r"^[^#+]+$", description="The device's base topic (its [mqtt] base_topic)"
    )
    client_id: str | None = Field(None, min_length=1, description="MQTT client id; default socbal-home-<id>")
    keepalive_s: int = Field(10, ge=5, le=3600, description="MQTT keep-alive; the broker sends the last will after ~1.5x, s")

    @model_validator(mode="after")
    def _no_request_retries(self) -> "SocbalMqttConfig":
        if "retries" in self.model_fields_set:
            raise ValueError(
                f"retries = {self.retries} does nothing for socbal-mqtt (no request to retry; the link reconnects): remove it"
            )
        return self

    def broker(self) -> MqttConfig:
        """The broker connection as the runtime's ``[mqtt]`` section has it."""
        return MqttConfig(
            host=self.host,
            port=self.port,
            client_id=self.client_id or f"socbal-home-{self.id}",
            keepalive_s=self.keepalive_s,
            base_topic=self.base_topic,
            discovery=False,
            **self.login(),
        )


class SocbalMqttDriver(SocbalPacksDriver):
    """One socbal device behind :class:`~socbal.drivers.mqtt_link.MqttDeviceLink`, its packs shared by the EMS."""

    config: SocbalMqttConfig
    link: MqttDeviceLink

    def __init__(self, config: SocbalMqttConfig, clock: Callable[[], float] = time.monotonic) -> None:
        broker = config.broker()
        link = MqttDeviceLink(broker, checked_password(broker, config.id), [p.id for p in config.packs], config.timeout_s)
        super().__init__(config, link, clock)
        self._first_read = True

    def reading_time_s(self, readings: list[PackReading], now_s: float) -> float:
        """When the oldest pack telemetry in the reading was taken (monotonic s)."""
        return min(r.received_s for r in readings)

    async def read(self) -> DeviceTelemetry:
        """As :meth:`SocbalPacksDriver.read`; the first read waits up to ``timeout_s`` for every pack to report."""
        if self._first_read:
            self._first_read = False
            await self.link.read(wait_s=self.config.timeout_s)
        return await super().read()
