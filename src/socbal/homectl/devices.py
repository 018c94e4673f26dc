"""One device under the home controller: its driver, latest telemetry, reachability and whether it follows.

A :class:`DeviceSlot` reads through its driver (the driver's pacing sends any setpoint
that became due), counts failed reads (``fail_safe.offline_after`` in a row: offline),
judges whether the device delivers what it was told (:class:`FollowWatch`) and turns
all that into the :class:`~socbal.home.models.DeviceState` the home decision takes.
Power in W (+ discharge / - charge), SOC in %, times on the monotonic clock in s.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from dataclasses import dataclass

from socbal.drivers.base import DeviceTelemetry, Driver, DriverError
from socbal.drivers.registry import open_driver
from socbal.ems.models import MAX_POWER_W
from socbal.home.kernel import NEVER_S
from socbal.home.models import DeviceState
from socbal.homectl.config import FailSafe, HomeDevice
from socbal.homectl.timing import DeviceTiming

#: Reserve assumed where neither the config nor the device gives one, % SOC.
DEFAULT_RESERVE_PCT = 10.0


@dataclass
class FollowWatch:
    """Times how long a device has delivered under ``follow_ratio`` of its command, judged at every decision (s)."""

    short_since_s: float = math.inf  # when its current run of judgements under follow_ratio began; inf: not in one
    excluded_until_s: float = -math.inf

    def excluded(self, now_s: float) -> bool:
        """Whether the device is left out now."""
        return now_s < self.excluded_until_s

    def judge(self, command_w: float, delivered_w: float, near_limit: bool, fs: FailSafe, now_s: float) -> bool:
        """One judgement at ``now_s``; True when it excludes the device (for ``fs.exclude_s``): it has delivered
        under ``fs.follow_ratio`` of its command at every judgement for ``fs.follow_timeout_s``."""
        along = delivered_w if command_w > 0 else -delivered_w  # what it delivers in the commanded direction
        if near_limit or abs(command_w) < fs.follow_min_w or along >= fs.follow_ratio * abs(command_w):
            self.short_since_s = math.inf
            return False
        self.short_since_s = min(self.short_since_s, now_s)
        if now_s - self.short_since_s < fs.follow_timeout_s:
            return False
        self.short_since_s = math.inf
        self.excluded_until_s = now_s + fs.exclude_s
        return True


def telemetry_problem(tel: DeviceTelemetry) -> str | None:
    """Why a reading cannot be used (a value out of range or not a number), or None."""
    checks = [("soc_pct", tel.soc_pct, 0.0, 100.0), ("weakest_soc_pct", tel.weakest_soc_pct, 0.0, 100.0)]
    checks += [("battery_power_w", tel.battery_power_w, -MAX_POWER_W, MAX_POWER_W)]
    checks += [
        (name, value, 0.0, MAX_POWER_W)
        for name, value in (("max_discharge_w", tel.max_discharge_w), ("max_charge_w", tel.max_charge_w))
    ]
    for name, value, low, high in checks:
        if not (math.isfinite(value) and low <= value <= high):
            return f"{name} = {value!r} (allowed {low:g}..{high:g})"
    return None


class DeviceSlot:
    """A device, its driver and what the controller knows of it (see the module docstring)."""

    def __init__(self, cfg: HomeDevice, fail_safe: FailSafe) -> None:
        self.cfg = cfg
        self.fail_safe = fail_safe
        self.driver: Driver = open_driver(cfg)
        self.telemetry: DeviceTelemetry | None = None
        self.error: str | None = None
        self.failures = 0
        self.watch = FollowWatch()
        self.changed_at_s = -math.inf  # when a new setpoint value last went out
        self._seen_w: float | None = None
        self.confirmed = False  # the device has reported socbal's command in force
        self.first_read_s = math.inf  # when it first answered (monotonic s)
        self.staged_on = False  # the home decision's memory of this device
        self.stage_changed_s = -math.inf
        self.reason = "starting"
        self.handed_back = False
        self.fault_seen: str | None = None  # a device fault read since the controller last looked (one read is enough)
        self._offer: float | None = None  # the controller's newest setpoint, not yet given to the driver
        self._hand_back = False  # the controller asks for a hand-back
        self._wake = asyncio.Event()

    @property
    def id(self) -> str:
        return self.cfg.id

    @property
    def reachable(self) -> bool:
        """Telemetry arrived, not older than ``telemetry_max_age_s``, and fewer than ``offline_after`` reads in a row failed."""
        tel = self.telemetry
        if tel is None or self.failures >= self.fail_safe.offline_after:
            return False
        return time.monotonic() - tel.time_s <= self.fail_safe.telemetry_max_age_s

    def offer(self, setpoint_w: float) -> None:
        """The controller's newest setpoint, W (it replaces one not sent yet); the device's own task sends it."""
        self._offer = setpoint_w
        self._wake.set()

    def ask_hand_back(self) -> None:
        """Ask the device's task to hand the device back to its own mode (once)."""
        if not self.handed_back:
            self._hand_back = True
            self._wake.set()

    async def run(self, poll_s: float) -> None:
        """The device's own loop (one task per device, the only user of its driver): send what the controller
        offered as soon as the driver's pacing allows, read the device, then wait ``poll_s`` or for a new offer.
        The driver spaces its requests further where the vendor asks for it."""
        while True:
            if self._hand_back:
                self._hand_back = False
                await self.hand_back()
            offer, self._offer = self._offer, None
            if offer is not None:
                await self.write(offer)
            await self.read()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), poll_s)
            self._wake.clear()

    @property
    def sent_w(self) -> float | None:
        """The setpoint in force on the device as far as socbal knows, W (None: none sent)."""
        return self.driver.pacer.sent_w

    def _note_sent(self) -> None:
        sent = self.driver.pacer.sent_w
        if sent != self._seen_w:
            self._seen_w = sent
            self.changed_at_s = self.driver.pacer.sent_at_s

    def _timeout_s(self) -> float:
        return self.cfg.timeout_s * (self.cfg.retries + 1) + 2.0 * max(getattr(self.cfg, "min_request_interval_s", 0.0), 1.0)

    async def read(self) -> None:
        """Read the device (paced writes that became due go out first); a failure is counted, never raised."""
        try:
            tel = await asyncio.wait_for(self.driver.read(), self._timeout_s())
        except (DriverError, OSError, asyncio.TimeoutError) as err:
            self.failures += 1
            self.error = str(err) or type(err).__name__
            return
        finally:
            self._note_sent()
        problem = telemetry_problem(tel)
        if problem is not None:
            self.failures += 1
            self.error = f"invalid telemetry: {problem}"
            return
        self.telemetry, self.failures, self.error = tel, 0, None
        self.fault_seen = tel.fault or self.fault_seen
        self.first_read_s = min(self.first_read_s, tel.time_s)
        if self._lost_command(tel):
            # It held socbal's command and no longer does (its own mode, control lost, a reboot): rewrite it; a device
            # that keeps dropping what it is told does not follow.
            sent = self.driver.pacer.sent_w or 0.0
            self.watch.judge(sent, tel.battery_power_w, self.near_limit(sent), self.fail_safe, tel.time_s)
            self.driver.pacer.sent_w = None
            self.confirmed = False
        elif tel.setpoint_w is not None:
            self.confirmed = True

    def take_fault(self) -> str | None:
        """The device's fault now, or one it reported since the last call (so a fault lasting one read is not missed)."""
        seen, self.fault_seen = self.fault_seen, None
        return (self.telemetry.fault if self.telemetry is not None else None) or seen

    def _lost_command(self, tel: DeviceTelemetry) -> bool:
        """The device reported socbal's command before and now reports none, or (once its latency has passed, so
        not an echo of the old one) a different one."""
        sent = self.driver.pacer.sent_w
        if not self.confirmed or sent is None:
            return False
        if tel.setpoint_w is None:
            return sent != 0.0
        settled = tel.time_s - self.changed_at_s > self.cfg.latency_s
        return settled and abs(tel.setpoint_w - sent) > max(self.driver.pacer.pacing.deadband_w, 1.0)

    async def write(self, setpoint_w: float) -> bool:
        """Offer a setpoint through the driver's pacing; False (and counted) where the device did not take it."""
        try:
            sent = await asyncio.wait_for(self.driver.write(setpoint_w), self._timeout_s())
        except (DriverError, OSError, asyncio.TimeoutError) as err:
            self.failures += 1
            self.error = str(err) or type(err).__name__
            return False
        finally:
            self._note_sent()
        return sent

    async def hand_back(self) -> None:
        """Give the device back to its own mode (the driver's ``on_close``); a fresh driver keeps reading it."""
        await self.close()
        self.driver = open_driver(self.cfg)
        self._seen_w = None
        self.confirmed = False
        self.handed_back = True

    async def close(self) -> None:
        """Leave the device as its driver's ``on_close`` says (best effort)."""
        try:
            await asyncio.wait_for(self.driver.close(), self._timeout_s())
        except (DriverError, OSError, asyncio.TimeoutError):
            pass

    def settled_at_s(self, tolerance_w: float) -> float:
        """When the last setpoint change has shown in full: its latency after it, or sooner, the first reading after it
        that reports the setpoint in force (not an echo of the old one) and delivers it within ``tolerance_w``."""
        tel, sent = self.telemetry, self.sent_w
        latest = self.changed_at_s + self.cfg.latency_s
        if tel is None or sent is None or tel.time_s <= self.changed_at_s or tel.setpoint_w is None:
            return latest
        if abs(tel.setpoint_w - sent) <= 1.0 and abs(tel.battery_power_w - sent) <= tolerance_w:
            return min(latest, tel.time_s)
        return latest

    def timing(self, tolerance_w: float) -> DeviceTiming:
        """What the controller's reading gate needs of this device (see :mod:`socbal.homectl.timing`)."""
        tel, sent = self.telemetry, self.sent_w
        settled = self.settled_at_s(tolerance_w)
        read = tel.time_s if tel is not None else -math.inf
        steady = (
            tel is not None
            and sent is not None
            and read >= settled
            and abs(tel.battery_power_w - sent) <= tolerance_w
            and (tel.setpoint_w is None or abs(tel.setpoint_w - sent) <= 1.0)
        )
        return DeviceTiming(read_s=read, settled_s=settled, steady=steady)

    def reserve_pct(self) -> float:
        """The configured reserve, else the one the device reports, else :data:`DEFAULT_RESERVE_PCT`."""
        if self.cfg.reserve_pct is not None:
            return self.cfg.reserve_pct
        tel = self.telemetry
        return tel.reserve_pct if tel is not None and tel.reserve_pct is not None else DEFAULT_RESERVE_PCT

    def near_limit(self, command_w: float) -> bool:
        """Near its reserve (discharging) or near full (charging): the device stopping there is expected."""
        tel = self.telemetry
        if tel is None:
            return False
        margin = self.fail_safe.near_reserve_pct
        if command_w > 0:
            return tel.weakest_soc_pct <= self.reserve_pct() + margin
        return tel.soc_pct >= 100.0 - margin

    def judge_following(self, now_s: float, settle_s: float) -> bool:
        """Judge the command in force once it has had latency plus ``settle_s``; True when this excludes the device."""
        sent, tel = self.sent_w, self.telemetry
        if sent is None or tel is None or not self.reachable or now_s - self.changed_at_s < self.cfg.latency_s + settle_s:
            return False
        return self.watch.judge(sent, tel.battery_power_w, self.near_limit(sent), self.fail_safe, now_s)

    def state(self, now_s: float) -> DeviceState:
        """The device as the home decision sees it; offline when it is unreachable or excluded."""
        tel = self.telemetry
        cfg = self.cfg
        usable = tel is not None and self.reachable and not self.watch.excluded(now_s)
        soc = tel.soc_pct if tel is not None else 50.0
        max_dis = tel.max_discharge_w if tel is not None else 0.0
        max_chg = tel.max_charge_w if tel is not None else 0.0
        if cfg.max_discharge_w is not None:
            max_dis = min(max_dis, cfg.max_discharge_w)
        if cfg.max_charge_w is not None:
            max_chg = min(max_chg, cfg.max_charge_w)
        pacer = self.driver.pacer
        sent = pacer.sent_w if pacer.sent_w is not None else 0.0
        return DeviceState(
            id=cfg.id,
            soc_pct=soc,
            weakest_pack_soc_pct=min(tel.weakest_soc_pct, soc) if tel is not None else None,
            capacity_wh=cfg.capacity_wh,
            reserve_pct=self.reserve_pct(),
            max_discharge_w=max_dis,
            max_charge_w=max_chg,
            efficient_discharge_w=cfg.efficient_discharge_w,
            efficient_charge_w=cfg.efficient_charge_w,
            online=usable,
            circuit=cfg.circuit,
            measured_w=max(-MAX_POWER_W, min(MAX_POWER_W, tel.battery_power_w)) if tel is not None else None,
            min_write_interval_s=pacer.pacing.min_write_interval_s,
            staged_on=self.staged_on,
            since_stage_change_s=min(now_s - self.stage_changed_s, NEVER_S),
            since_write_s=min(max(now_s - pacer.sent_at_s, 0.0), NEVER_S),
            last_setpoint_w=sent,
        )
