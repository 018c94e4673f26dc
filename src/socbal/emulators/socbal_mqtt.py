"""socbal's own device over its MQTT schema (:class:`socbal.runtime.emulator.MqttEndpoint`, the topics of
``socbal emulate --mqtt``) as one device of an emulated home, on the broker and base topic of its ``[devices.mqtt]``,
with its login (``username``, ``password_env`` / ``password_file``, ``[devices.mqtt.tls]``) when the broker wants one.

Each pack follows the setpoint in ``<base>/device/setpoints`` after the device's latency and at its ramp, all fall
back to 0 W after the message's ``watchdog_s`` (10 s until one came) or on the controller's last will, with the home's
faults: a drop-out says ``offline`` on ``<base>/device/status`` (as its last will would), leaves the broker and takes
no setpoint until it is back; ignored writes drop setpoints unread; frozen telemetry publishes the pack telemetry as it
was when frozen, its ``ts`` included (so it ages, as a frozen register counter does)."""

from __future__ import annotations

from socbal.emulators.device import FirmwareDevice
from socbal.home.scenario import BrokerSpec
from socbal.runtime.config import MqttConfig
from socbal.runtime.emulator import MqttEndpoint
from socbal.runtime.mqtt_login import checked_password


class SocbalMqttEmulator:
    """The device's MQTT endpoint (run :attr:`endpoint`'s ``run`` as a task), its frozen telemetry and faults."""

    def __init__(self, device: FirmwareDevice, broker: BrokerSpec, client_id: str, where: str = "mqtt") -> None:
        """``where``: the scenario's field of ``broker`` (e.g. ``devices[0].mqtt``), named when its login is unusable
        (:class:`InputError`: a password that cannot be read, a TLS file missing or unusable) or refused."""
        if device.dynamics.firmware != "per-pack":
            raise ValueError("socbal's own device takes per-pack setpoints: Dynamics(firmware='per-pack')")
        self.device = device
        self.broker = broker
        cfg = MqttConfig(
            host=broker.host,
            port=broker.port,
            client_id=client_id,
            keepalive_s=broker.keepalive_s,
            base_topic=broker.base,
            discovery=False,
            **broker.login(),
        )
        password = checked_password(cfg, where)
        self.endpoint = MqttEndpoint(device.packs, cfg, password, reachable=device.online, accepts=self._accepts, where=where)
        self._frozen: list[tuple[str, dict]] | None = None

    def _accepts(self) -> bool:
        """A setpoints message: taken (and counted) unless writes are ignored."""
        if self.device.faults.ignore_writes:
            return False
        self.device.writes += 1
        return True

    def tick(self) -> None:
        """Keep (or let go of) the telemetry as it was when it froze."""
        frozen = self.device.faults.freeze_telemetry
        if frozen and self._frozen is None:
            self._frozen = self.endpoint.telemetry()
        elif not frozen:
            self._frozen = None

    async def publish(self) -> None:
        """Publish the telemetry in force (nothing while the device is away or the broker is lost)."""
        if self.device.online():
            await self.endpoint.publish(self._frozen or self.endpoint.telemetry())
