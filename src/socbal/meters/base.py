"""What every meter shares: the reading (with its time), the config fields, and the polling with staleness."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Protocol

import httpx
from pydantic import Field

from socbal.validation import StrictModel


class MeterError(RuntimeError):
    """No reading newer than the staleness timeout; the message says why."""


@dataclass(frozen=True)
class MeterReading:
    """The home's grid power, W (+ import / - export), and when it arrived (monotonic clock, s)."""

    grid_power_w: float
    time_s: float

    def age_s(self, now_s: float | None = None) -> float:
        """How old the reading is, s."""
        return (time.monotonic() if now_s is None else now_s) - self.time_s


class MeterConfig(StrictModel):
    """Fields every ``[meter]`` section has."""

    period_s: float = Field(2.0, gt=0, le=600, description="The meter gives a new reading every period_s; no faster polling")
    stale_after_s: float = Field(10.0, gt=0, le=3600, description="A reading older than this is stale: no control on it")
    timeout_s: float = Field(2.0, gt=0, le=60, description="Time limit of one request, s")


class Meter(Protocol):
    """One grid meter."""

    @property
    def config(self) -> MeterConfig:
        """The validated ``[meter]`` section."""
        ...

    async def read(self) -> MeterReading:
        """The newest reading not older than ``stale_after_s``; raises :class:`MeterError` when there is none."""
        ...

    async def close(self) -> None:
        """Release the connection."""
        ...


#: How much sooner than a period after the previous poll a polled meter may be polled again (share of the period).
POLL_EARLY = 0.1


class PolledHttpMeter:
    """A meter read by one HTTP GET per period: subclasses give :attr:`path` and :meth:`grid_power_w`."""

    path = "/"

    def __init__(self, config: MeterConfig, base_url: str) -> None:
        self.config = config
        self._http = httpx.AsyncClient(base_url=base_url, timeout=config.timeout_s)
        self.last: MeterReading | None = None
        self.last_error: str | None = None
        self.requests = 0
        self._polled_s = -math.inf  # when the last poll began (monotonic s)

    def grid_power_w(self, data: object) -> float:
        """The grid power in an answer, W; ``KeyError``/``TypeError``/``ValueError`` where it is missing."""
        raise NotImplementedError

    async def _fetch(self) -> MeterReading:
        self.requests += 1
        response = await self._http.get(self.path)
        response.raise_for_status()
        value = float(self.grid_power_w(response.json()))
        return MeterReading(grid_power_w=value, time_s=time.monotonic())

    async def read(self) -> MeterReading:
        """Poll when a period has passed since the last poll began (less :data:`POLL_EARLY`, so a caller polling every
        half period, a little late once, still gets a reading every period, not every 1.5); a failed poll leaves the
        last reading until it is stale."""
        now = time.monotonic()
        if now - self._polled_s >= self.config.period_s * (1.0 - POLL_EARLY):
            self._polled_s = now
            try:
                self.last = await self._fetch()
                self.last_error = None
            except (httpx.HTTPError, KeyError, TypeError, ValueError) as err:
                self.last_error = f"{self.path}: {err!r}"
        if self.last is None or self.last.age_s() > self.config.stale_after_s:
            raise MeterError(f"meter: no reading newer than {self.config.stale_after_s:g} s ({self.last_error or 'none yet'})")
        return self.last

    async def close(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()
