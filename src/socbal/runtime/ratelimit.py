"""Rate limits for untrusted input and for log lines about it (token bucket; monotonic clock, seconds)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class TokenBucket:
    """Allows ``rate_per_s`` events a second on average, bursts of up to ``burst``."""

    def __init__(self, rate_per_s: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._tokens = burst
        self._last_s = clock()

    def allow(self) -> bool:
        """Take one token if there is one."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last_s) * self.rate_per_s)
        self._last_s = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class ThrottledLog:
    """One log line per event, at most ``burst`` then ``rate_per_s`` a second; the rest are counted.

    The next line that gets through says how many were suppressed since the last one.
    ``sink`` (optional) receives every line that is logged (e.g. to put it in the event log).
    """

    def __init__(
        self,
        logger: logging.Logger,
        rate_per_s: float = 0.2,
        burst: float = 10,
        sink: Callable[[str], object] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.sink = sink
        self._bucket = TokenBucket(rate_per_s, burst, clock)
        self.suppressed = 0  # since the last line logged
        self.total = 0  # every event, logged or not

    def warning(self, text: str) -> bool:
        """Log ``text`` (one line) unless over the rate; True when it was logged."""
        self.total += 1
        if not self._bucket.allow():
            self.suppressed += 1
            return False
        if self.suppressed:
            text = f"{text} (and {self.suppressed} similar suppressed)"
            self.suppressed = 0
        self.logger.warning("%s", text)
        if self.sink is not None:
            self.sink(text)
        return True
