"""What every device driver shares: the telemetry it returns, the protocol it follows, its pacing.

A driver talks one vendor protocol to one device: :meth:`Driver.read` returns a
:class:`DeviceTelemetry` (units converted once, socbal's sign convention: battery
power + discharge / - charge), :meth:`Driver.write` takes one device-level
setpoint in W and sends it when the driver's :class:`Pacing` allows. The caller
may call ``write`` every cycle: unchanged setpoints (within the deadband) are not
rewritten, a setpoint that arrives before the minimum write interval waits and is
replaced by any newer one (a stale setpoint is never sent), and a keep-alive
rewrites the one in force where the device needs it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import httpx
from pydantic import Field, model_validator

from socbal.validation import StrictModel


class DriverError(RuntimeError):
    """The device did not answer, or answered with an error; the message says which and why."""


async def http_call(client: httpx.AsyncClient, who: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One request that must answer 200; :class:`DriverError` naming ``who`` and ``url`` otherwise."""
    try:
        response = await client.request(method, url, **kwargs)
    except httpx.HTTPError as err:
        raise DriverError(f"{who}: {url} failed: {err!r}") from None
    if response.status_code != 200:
        raise DriverError(f"{who}: {url} answered HTTP {response.status_code}")
    return response


def json_object(response: httpx.Response, who: str, what: str) -> dict[str, Any]:
    """The answer as a JSON object; :class:`DriverError` where it is anything else."""
    try:
        data = response.json()
    except ValueError:
        raise DriverError(f"{who}: {what} answered something that is not JSON") from None
    if not isinstance(data, dict):
        raise DriverError(f"{who}: {what} answered {data!r}, not an object")
    return data


@dataclass(frozen=True)
class DeviceTelemetry:
    """One reading of a device, in socbal's units and sign convention.

    ``time_s`` is the monotonic clock (:func:`time.monotonic`) when the answer arrived.
    ``pack_soc_pct`` lists every battery the device reports on its own (main unit's first), empty if none.
    ``weakest_soc_pct`` is the lowest of those, or ``soc_pct`` when the device reports no packs.
    ``setpoint_w`` is the command the device reports in force (its echo), None where it reports none.
    """

    time_s: float
    battery_power_w: float
    soc_pct: float
    pack_soc_pct: tuple[float, ...]
    weakest_soc_pct: float
    max_discharge_w: float
    max_charge_w: float
    reserve_pct: float | None
    setpoint_w: float | None
    state: str  # "discharging", "charging" or "standby" (battery side)
    online: bool
    fault: str | None


def battery_state(power_w: float, threshold_w: float = 0.0) -> str:
    """Battery state of a signed power: discharging above ``threshold_w``, charging below its negative."""
    if power_w > threshold_w:
        return "discharging"
    if power_w < -threshold_w:
        return "charging"
    return "standby"


class Pacing(StrictModel):
    """How often a driver writes: minimum interval, deadband and keep-alive."""

    min_write_interval_s: float = Field(ge=0, le=3600, description="No two setpoint writes closer than this, s")
    deadband_w: float = Field(ge=0, le=1000, description="A setpoint this close to the one in force is not rewritten, W")
    keepalive_s: float | None = Field(None, gt=0, le=3600, description="Rewrite the setpoint in force at least this often, s")


class DriverConfig(StrictModel):
    """Fields every ``[[devices]]`` entry has; each driver adds its own and its pacing defaults.

    ``[devices.pacing]`` may give any of the three pacing fields; the others keep the driver's defaults.
    """

    pacing_defaults: ClassVar[dict[str, float | None]] = {"min_write_interval_s": 10.0, "deadband_w": 25.0}

    id: str = Field("device", min_length=1, description="Device id (logs, state, discovery)")
    host: str = Field(min_length=1, description="Device address (IP or host name)")
    timeout_s: float = Field(3.0, gt=0, le=60, description="Time limit of one request, s")
    retries: int = Field(1, ge=0, le=10, description="Transport retries of one request (the library's own)")
    pacing: Pacing

    @model_validator(mode="before")
    @classmethod
    def _driver_pacing(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and isinstance(raw.get("pacing", {}), dict):
            raw = {**raw, "pacing": {**cls.pacing_defaults, **raw.get("pacing", {})}}
        return raw


class Pacer:
    """Decides which setpoint goes out when; the newest offered setpoint always replaces a pending one."""

    def __init__(self, pacing: Pacing, clock: Callable[[], float] = time.monotonic) -> None:
        self.pacing = pacing
        self.clock = clock
        self.pending_w: float | None = None
        self.sent_w: float | None = None
        self.sent_at_s = -math.inf
        self.writes = 0

    def offer(self, setpoint_w: float) -> None:
        """The caller's newest setpoint, W (replaces any pending one)."""
        self.pending_w = float(setpoint_w)

    def _changed(self, new_w: float) -> bool:
        old = self.sent_w
        if old is None:
            return True
        if (new_w > 0) != (old > 0) or (new_w < 0) != (old < 0):
            return True  # a new direction, or a stop, always goes out
        return abs(new_w - old) >= self.pacing.deadband_w

    def due(self) -> float | None:
        """The setpoint to send now, or None (nothing new, or the interval has not passed)."""
        now = self.clock()
        age = now - self.sent_at_s
        new = self.pending_w
        if new is not None and not self._changed(new):
            self.pending_w = new = None  # within the deadband: not worth a write
        if new is None:
            keepalive = self.pacing.keepalive_s
            if keepalive is not None and self.sent_w is not None and age >= keepalive:
                return self.sent_w
            return None
        return new if age >= self.pacing.min_write_interval_s else None

    def sent(self, value_w: float) -> None:
        """``value_w`` is in force on the device now; a pending setpoint other than it stays pending."""
        self.sent_w = float(value_w)
        self.sent_at_s = self.clock()
        self.writes += 1
        if self.pending_w == self.sent_w:
            self.pending_w = None


class Driver(Protocol):
    """One device behind one vendor protocol."""

    @property
    def config(self) -> DriverConfig:
        """The validated ``[[devices]]`` entry."""
        ...

    @property
    def pacer(self) -> Pacer:
        """The driver's pacing state (``pacer.writes`` counts the writes sent)."""
        ...

    async def read(self) -> DeviceTelemetry:
        """Read the device (sending a paced setpoint first if one became due); raises :class:`DriverError`."""
        ...

    async def write(self, setpoint_w: float) -> bool:
        """Offer a device setpoint, W (+ discharge / - charge); True if a write went out now."""
        ...

    async def close(self) -> None:
        """Leave the device in its configured fallback and release the connection."""
        ...


class PacedDriver:
    """The pacing half of a driver: subclasses implement :meth:`_send` (one setpoint to the device)."""

    config: DriverConfig

    def __init__(self, pacing: Pacing, clock: Callable[[], float] = time.monotonic) -> None:
        self.pacer = Pacer(pacing, clock)

    def clamp_w(self, setpoint_w: float) -> float:
        """The setpoint within the device's limits, W."""
        return setpoint_w

    async def _send(self, setpoint_w: float) -> float | None:
        """Send one setpoint; return the setpoint now in force (it may differ, e.g. a mode change held back),
        or None where nothing had to be sent yet."""
        raise NotImplementedError

    async def write(self, setpoint_w: float) -> bool:
        """Offer a setpoint and send it if due (see :class:`Pacer`); raises :class:`DriverError` on failure."""
        if not math.isfinite(setpoint_w):
            raise DriverError(f"{self.config.id}: setpoint {setpoint_w!r} W is not a number")
        self.pacer.offer(self.clamp_w(setpoint_w))
        return await self.flush()

    async def flush(self) -> bool:
        """Send the pending setpoint, or the keep-alive, if due; a failed send keeps the newest pending."""
        value = self.pacer.due()
        if value is None:
            return False
        in_force = await self._send(value)
        if in_force is None:
            return False
        self.pacer.sent(in_force)
        return True
