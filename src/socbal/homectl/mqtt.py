"""MQTT for the home controller: state per device, the home's settings at run time, Home Assistant discovery.

Topics under ``base = mqtt.base_topic``: ``<base>/runtime/status`` (``online`` / ``offline``,
retained, last will), ``<base>/state`` (the controller's JSON state), ``<base>/devices/<id>/<field>``
and ``.../availability`` (retained, see :mod:`socbal.homectl.discovery`), ``<base>/settings/<name>``
(current value, retained). Settings change with a JSON object on ``<base>/settings/set`` (carrying
``"token"`` when ``settings_token_env``/``_file`` is configured) or, without a token, a plain value on
``<base>/settings/<name>/set`` for ``strategy``, ``staging`` and ``grid_target_w``. Incoming messages
are bounded as in :class:`socbal.runtime.mqtt.MqttService`: size cap, no retained commands, a rate limit.
"""

from __future__ import annotations

import asyncio
import json
import logging

import aiomqtt
from pydantic import SecretStr

from socbal.errors import InputError
from socbal.homectl.config import HomeRunConfig, HomeSection
from socbal.homectl.discovery import DEVICE_VALUES, device_topic, home_discovery_messages
from socbal.runtime import discovery
from socbal.runtime.mqtt import SettingsBroker, payload_bytes
from socbal.runtime.payload import shorten
from socbal.runtime.settings import SettingsController
from socbal.runtime.store import StateStore

log = logging.getLogger("socbal.homectl.mqtt")

#: Settings that have their own ``<base>/settings/<name>/set`` topic.
PLAIN_SETTINGS = ("strategy", "staging", "grid_target_w")
RECONNECT_MIN_S, RECONNECT_MAX_S = 0.5, 30.0


class HomeMqtt(SettingsBroker):
    """The home controller's broker connection; run :meth:`run` as a supervised task."""

    def __init__(
        self,
        cfg: HomeRunConfig,
        settings: SettingsController[HomeSection],
        store: StateStore,
        password: SecretStr | None = None,
        settings_token: SecretStr | None = None,
    ) -> None:
        assert cfg.mqtt is not None
        super().__init__(cfg.mqtt, store, password, settings_token, log)
        self.cfg = cfg
        self.settings = settings
        self._command_topics = {self.topics.settings_set, *(self.topics.setting_set(n) for n in PLAIN_SETTINGS)}

    async def run(self) -> None:
        """Connect, announce, take settings messages; reconnect with backoff, the reason in :attr:`last_error` (a
        refused login or TLS names the fields to fix). Cancel to stop."""
        backoff = RECONNECT_MIN_S
        while True:
            self._connecting()
            try:
                async with self.connection.client() as client:
                    await client.subscribe([(t, 1) for t in sorted(self._command_topics)])
                    await client.publish(self.topics.status, "online", qos=1, retain=True)
                    if self.mcfg.discovery:
                        for topic, payload in home_discovery_messages(self.cfg, self.topics, self.settings_token is None):
                            await client.publish(topic, json.dumps(payload), qos=1, retain=True)
                    self._client, self._published, self.last_error = client, {}, None
                    self.connects += 1
                    backoff = RECONNECT_MIN_S
                    async for message in client.messages:
                        self._handle(str(message.topic), payload_bytes(message))
            except (aiomqtt.MqttError, OSError) as err:
                self._connection_ended()
                self.last_error = self.connection.describe(err)
                log.warning("mqtt: %s; retrying in %.1f s", self.last_error, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2.0, RECONNECT_MAX_S)
            finally:
                self._connection_ended()

    def _plain_patch(self, topic: str, text: str) -> object:
        name = topic.rsplit("/", 2)[-2]
        if name == "grid_target_w":
            try:
                return {name: float(text)}
            except ValueError:
                return {name: text}  # validation names it
        return {name: text}

    def _handle(self, topic: str, payload: bytes) -> None:
        try:
            self.settings.propose(self._settings_patch(topic, payload), source="mqtt")
        except InputError as err:  # a wrong token is logged here; an invalid value by the settings controller
            self.rejects.warning(f"mqtt: {shorten(str(err), 300)}")

    async def _send_state(self, client: aiomqtt.Client, state: dict) -> None:
        """The controller's state, each device's values and availability, and the settings (retained)."""
        await client.publish(self.topics.state, json.dumps(state), qos=0, retain=True)
        for device_id, values in state["devices"].items():
            online = bool(values["online"])
            await self._publish_changed(
                client, device_topic(self.topics, device_id, "availability"), "online" if online else "offline"
            )
            await self._publish_changed(
                client, device_topic(self.topics, device_id, "online"), discovery.ON if online else discovery.OFF
            )
            for field in DEVICE_VALUES:
                value = values.get(field)
                if value is not None:
                    text = value if isinstance(value, str) else f"{value:g}"
                    await self._publish_changed(client, device_topic(self.topics, device_id, field), text)
        s = self.settings.latest
        for name in PLAIN_SETTINGS:
            value = getattr(s, name)
            await self._publish_changed(client, self.topics.setting(name), value if isinstance(value, str) else f"{value:g}")
