"""Which meter reading the home controller may decide on: the gate between the meter, the devices' reads and commands.

A decision adds what the devices deliver to the grid power the meter shows, so both must describe the same moment
and neither may still show the state from before a command. A reading qualifies when, for every reachable device:

- it is newer than the device's last setpoint change plus its latency (``settled_s``: until then the meter and the
  device's telemetry may disagree: a report echoing the old value, the meter's own delay);
- the device's newest telemetry is newer than that too (not an echo of the old command);
- the device is *steady* (that telemetry reports its setpoint in force and delivers it: its output at the reading is
  what it reports, however slowly it is polled), or it was read since the reading (a device still on its way, e.g. a
  slow starter or one ramping, may change any moment: a reading of it from before the meter's would add its old
  power to a grid that already shows the new one).

So a slowly polled device (an Indevolt, 1-5 s between requests) gates a decision only while its output is in
motion, not while it holds its setpoint. Times on the monotonic clock, s.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from socbal.meters.base import MeterReading


@dataclass(frozen=True)
class DeviceTiming:
    """What the gate needs of one reachable device (monotonic s)."""

    read_s: float  # when its newest telemetry arrived
    settled_s: float  # when its last setpoint change has shown in full (its latency after it, or sooner, seen delivered)
    steady: bool  # its newest telemetry, read after its last change, reports that setpoint delivered


def usable_with(device: DeviceTiming, reading_s: float) -> bool:
    """Whether ``device``'s newest telemetry may be added to a meter reading that arrived at ``reading_s``."""
    if reading_s < device.settled_s or device.read_s < device.settled_s:
        return False
    return device.steady or device.read_s >= reading_s


def reading_to_decide_on(
    readings: Sequence[MeterReading], devices: Iterable[DeviceTiming], decided_on_s: float
) -> MeterReading | None:
    """The newest of ``readings`` (oldest first) newer than ``decided_on_s`` (the reading the last decision used) that
    every device in ``devices`` may be added to (see the module docstring); None when there is none."""
    timings = list(devices)
    for reading in reversed(readings):
        if reading.time_s <= decided_on_s:
            return None
        if all(usable_with(d, reading.time_s) for d in timings):
            return reading
    return None
