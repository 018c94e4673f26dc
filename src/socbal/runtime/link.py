"""What the runtime needs from a device link (Modbus TCP, MQTT, and the vendor drivers to come)."""

from __future__ import annotations

from typing import Protocol

from socbal.runtime.telemetry import Telemetry


class DeviceLink(Protocol):
    """Telemetry in, setpoints out. Implementations never raise on I/O: a lost link shows in ``errors["link"]``."""

    last_error: str | None  # why the link last failed (None while it works)

    async def read(self) -> Telemetry:
        """The latest telemetry (with ``errors["link"]`` while the device cannot be reached)."""
        ...

    async def write(self, setpoints_w: dict[str, float], watchdog_s: int) -> bool:
        """Send per-pack setpoints (W, + discharge / - charge) and the watchdog timeout; False when not delivered."""
        ...

    async def close(self) -> None:
        """Release the connection."""
        ...
