"""One emulated storage device as its firmware runs it: a device setpoint in, the packs shared by socbal's EMS.

The packs, their physics and their BMS's SOC estimate are those of
:class:`socbal.runtime.emulator.EmulatedDevice`; this layer adds what a real
device puts between a command and its packs: the actuator latency and ramp,
the firmware's pack sharing (:func:`socbal.ems.decision.decide` with the
scenario's settings, as Indevolt's firmware does; or ``stop-at-first-cutoff``,
the Venus D, where the whole battery stops when its first pack reaches the
reserve), a rate limit on requests, and injected faults. Times are wall-clock
seconds (``clock``); the scenario's physics runs ``speed`` times faster.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import Field

from socbal.ems.decision import decide
from socbal.ems.models import AllocateInput, PackState, Request
from socbal.runtime.emulator import EmulatedDevice, ticks
from socbal.scenario import Scenario
from socbal.validation import StrictModel

#: The lowest backup reserve socbal's EMS takes, % (``reserve-on-average`` lets each pack run down to it).
EMS_MIN_RESERVE_PCT = 5.0


class Dynamics(StrictModel):
    """How the emulated device follows a command and answers requests."""

    latency_s: float = Field(2.0, ge=0, le=600, description="Command to start of effect, s")
    ramp_w_per_s: float = Field(400.0, gt=0, le=1e6, description="How fast the device setpoint follows, W/s")
    min_request_interval_s: float = Field(0.0, ge=0, le=60, description="Requests closer than this get an error (0: none)")
    firmware: Literal["balance", "stop-at-first-cutoff", "reserve-on-average", "per-pack"] = Field(
        "balance",
        description="balance: socbal's EMS shares among the packs; stop-at-first-cutoff: Venus D; "
        "reserve-on-average: the device stops when its average SOC reaches the reserve, a pack may go below it; "
        "per-pack: socbal's own device, each pack follows the setpoint written for it (with its watchdog), "
        "after latency_s and at ramp_w_per_s (all packs together)",
    )
    max_power_w: float | None = Field(None, gt=0, description="Device limit, W (default: what the packs can do)")


@dataclass
class Faults:
    """Injected faults; the tests and ``socbal emulate`` set them while the device runs."""

    dropout_until_s: float = -1.0  # unreachable until this clock time
    ignore_writes: bool = False  # writes are answered as accepted but change nothing
    freeze_telemetry: bool = False  # telemetry stays as it was when frozen


@dataclass(frozen=True)
class Snapshot:
    """What the device would report now (SOC as its BMS estimates it)."""

    battery_power_w: float  # + discharge / - charge, sum over the packs
    soc_pct: float  # capacity-weighted over all packs
    pack_soc_pct: tuple[float, ...]
    pack_power_w: tuple[float, ...]  # + discharge / - charge, per pack
    setpoint_w: float  # the device setpoint the packs share now (after latency and ramp)
    commanded_w: float  # the last accepted command
    load_w: float
    pv_w: float
    grid_w: float  # + import / - export at the device's meter: load - PV - battery (a home's: its whole grid)


class ActuatedPacks(EmulatedDevice):
    """socbal's own device (per-pack setpoints written from outside, with their watchdog) behind its DC-DC modules:
    the setpoints in force reach the packs ``latency_s`` (on ``clock``) after they changed, scaled down to the device's
    AC limits (``max_discharge_w`` / ``max_charge_w``, W, all packs together), and move at most ``ramp_w_per_s`` in
    total (all packs' changes together, each in proportion), W/s."""

    def __init__(
        self,
        scenario: Scenario,
        speed: float,
        watchdog_s: float,
        latency_s: float,
        ramp_w_per_s: float,
        clock: Callable[[], float],
    ) -> None:
        super().__init__(scenario, speed=speed, watchdog_s=watchdog_s)
        self.latency_s = latency_s
        self.ramp_w_per_s = ramp_w_per_s
        self.clock = clock
        n = len(self.ids)
        self.wanted_w = np.zeros(n)  # the setpoints in force at the device's input (watchdog applied)
        self.applied_w = np.zeros(n)  # what the DC-DC modules do now
        self._target_w = np.zeros(n)
        self._queue: deque[tuple[float, np.ndarray]] = deque()
        self._last_s = clock()
        self.max_discharge_w = float("inf")
        self.max_charge_w = float("inf")

    def effective_setpoints(self, now_s: float) -> np.ndarray:
        """What the DC-DC modules do now, W per pack; advances the actuator (the pack physics calls it once a step)."""
        wanted = super().effective_setpoints(now_s)
        t = self.clock()
        if not np.array_equal(wanted, self.wanted_w):
            self.wanted_w = wanted
            self._queue.append((t + self.latency_s, wanted))
        since_s = self._last_s
        while self._queue and self._queue[0][0] <= t:  # each change ramps from when it took effect, not from the step
            effect_s, setpoints_w = self._queue.popleft()
            self._ramp(effect_s - since_s)
            since_s = max(since_s, effect_s)
            self._target_w = self._within_limits(setpoints_w)
        self._ramp(t - since_s)
        self._last_s = t
        return self.applied_w.copy()

    def _ramp(self, dt_s: float) -> None:
        """Move the DC-DC modules towards the target for ``dt_s`` s at ``ramp_w_per_s`` (all packs together)."""
        delta = self._target_w - self.applied_w
        moved = float(np.abs(delta).sum())
        room = self.ramp_w_per_s * max(dt_s, 0.0)
        self.applied_w = self.applied_w + (delta if moved <= room else delta * (room / moved))

    def _within_limits(self, setpoints_w: np.ndarray) -> np.ndarray:
        """The setpoints scaled down so that their sum stays within the device's AC limits."""
        total = float(setpoints_w.sum())
        limit = self.max_discharge_w if total > 0 else self.max_charge_w
        return setpoints_w * (limit / abs(total)) if abs(total) > limit else setpoints_w


class FirmwareDevice:
    """A one-device scenario under a vendor firmware model (see the module docstring)."""

    def __init__(
        self,
        scenario: Scenario,
        dynamics: Dynamics | None = None,
        speed: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.scenario = scenario
        self.dynamics = dynamics or Dynamics()
        self.clock = clock
        # the firmware feeds its packs itself, but for per-pack setpoints written from outside (10 s watchdog)
        self.packs: EmulatedDevice
        if self.dynamics.firmware == "per-pack":
            d = self.dynamics
            self.packs = ActuatedPacks(scenario, speed, 10.0, d.latency_s, d.ramp_w_per_s, clock)
        else:
            self.packs = EmulatedDevice(scenario, speed=speed, watchdog_s=1e9)
        specs = self.packs.specs
        self.capacity_wh = np.array([p.ems_capacity_wh for p in specs])  # what the BMS and the firmware believe
        self.max_discharge_w = self.dynamics.max_power_w or sum(p.max_discharge_w for p in specs)
        self.max_charge_w = self.dynamics.max_power_w or sum(p.max_charge_w for p in specs)
        self.faults = Faults()
        self.commanded_w = 0.0
        self.setpoint_w = 0.0
        self._target_w = 0.0
        self._queue: deque[tuple[float, float]] = deque()
        self._latched = [False] * len(specs)
        self._last_request_s = -1e9
        self._frozen: Snapshot | None = None
        self.writes = 0  # accepted commands
        self.settings = scenario.settings  # the firmware's EMS settings; a vendor write may change the reserve
        self.guard: Callable[[float], float] = lambda w: w  # vendor rule applied to the target (e.g. target SOC)
        # What the device's own zero-export mode sees: load - PV, W (a home replaces it by its meter's view).
        self.net_demand_w: Callable[[], float] = lambda: self.packs.now_load_w - self.packs.now_pv_w
        self.site_grid_w: Callable[[], float] | None = None  # the grid its own meter sees, W (None: its scenario's)
        self._warm_up()

    def _warm_up(self) -> None:
        """Load the compiled EMS and pack physics now (a 1 us step), not while the first request waits."""
        self._share(1.0)
        self.packs.step(1e-6)

    @property
    def reserve_pct(self) -> float:
        """The device's backup reserve, %."""
        return float(self.settings.backup_reserve_pct)

    def set_reserve(self, reserve_pct: float) -> None:
        """A new backup reserve, % (clamped to the EMS's 5-100)."""
        self.settings = self.settings.model_copy(update={"backup_reserve_pct": min(max(float(reserve_pct), 5.0), 100.0)})

    def online(self) -> bool:
        """False while a drop-out lasts."""
        return self.clock() >= self.faults.dropout_until_s

    def drop_out(self, seconds: float) -> None:
        """Be unreachable for ``seconds`` from now."""
        self.faults.dropout_until_s = self.clock() + seconds

    def request_allowed(self) -> bool:
        """Count one request; False when it came sooner than ``min_request_interval_s`` after the previous one."""
        now = self.clock()
        too_soon = now - self._last_request_s < self.dynamics.min_request_interval_s
        self._last_request_s = now
        return not too_soon

    def command(self, setpoint_w: float) -> bool:
        """A new device setpoint, W (+ discharge / - charge), clamped to the device limits; False if ignored."""
        if self.faults.ignore_writes:
            return False
        self.set_command(setpoint_w)
        self.writes += 1
        return True

    def set_command(self, setpoint_w: float) -> None:
        """What the firmware itself decides (fallbacks, reboots): not subject to ``ignore_writes``."""
        value = max(-self.max_charge_w, min(self.max_discharge_w, float(setpoint_w)))
        self.commanded_w = value
        self._queue.append((self.clock() + self.dynamics.latency_s, value))

    def self_consumption_w(self) -> float:
        """The setpoint of the device's own zero-export mode: cover the load, store PV surplus."""
        return max(-self.max_charge_w, min(self.max_discharge_w, self.net_demand_w()))

    def _share(self, device_w: float) -> dict[int, float]:
        """Per-pack setpoints for a device setpoint, as the firmware shares it."""
        n = len(self.packs.ids)
        if device_w == 0.0:
            return dict.fromkeys(range(n), 0.0)
        est = self.packs.soc_estimated_pct()
        if device_w > 0 and self.dynamics.firmware != "balance":
            judged = (
                min(est)
                if self.dynamics.firmware == "stop-at-first-cutoff"
                else float(np.dot(est, self.capacity_wh) / self.capacity_wh.sum())
            )
            if judged <= self.reserve_pct:
                return dict.fromkeys(range(n), 0.0)
        request = Request(discharge_w=device_w) if device_w > 0 else Request(charge_w=-device_w, source="pv+ac")
        states = [
            PackState(
                id=p.id,
                soc_pct=min(max(est[i], 0.0), 100.0),
                capacity_wh=float(self.capacity_wh[i]),
                max_discharge_w=p.max_discharge_w,
                max_charge_w=p.max_charge_w,
                reserve_latched=self._latched[i],
            )
            for i, p in enumerate(self.packs.specs)
        ]
        settings = self.settings
        if self.dynamics.firmware == "reserve-on-average":  # its packs run down to the EMS's lowest reserve
            settings = settings.model_copy(update={"backup_reserve_pct": EMS_MIN_RESERVE_PCT})
        decision = decide(AllocateInput(settings=settings, packs=states, request=request))
        self._latched = [d.reserve_latched for d in decision.packs]
        return {i: d.power_w for i, d in enumerate(decision.packs)}

    def step(self, dt_s: float) -> None:
        """Advance by ``dt_s`` wall seconds: latency, ramp, the firmware's sharing, the pack physics."""
        if self.dynamics.firmware != "per-pack":
            now = self.clock()
            since_s = now - dt_s
            while self._queue and self._queue[0][0] <= now:  # each command ramps from when it took effect
                effect_s, value_w = self._queue.popleft()
                self._ramp(effect_s - since_s)
                since_s = max(since_s, effect_s)
                self._target_w = value_w
            self._ramp(now - since_s)
            self.packs.accept_setpoints(self._share(self.setpoint_w))
        if isinstance(self.packs, ActuatedPacks):
            self.packs.max_discharge_w, self.packs.max_charge_w = self.max_discharge_w, self.max_charge_w
        self.packs.step(dt_s)
        if isinstance(self.packs, ActuatedPacks):
            self.commanded_w, self.setpoint_w = float(self.packs.wanted_w.sum()), float(self.packs.applied_w.sum())
        if self.faults.freeze_telemetry and self._frozen is None:
            self._frozen = self._snapshot()
        elif not self.faults.freeze_telemetry:
            self._frozen = None

    def _ramp(self, dt_s: float) -> None:
        """Move the device setpoint towards the target (after the vendor rule) for ``dt_s`` s at ``ramp_w_per_s``."""
        step = self.dynamics.ramp_w_per_s * max(dt_s, 0.0)
        self.setpoint_w = min(max(self.guard(self._target_w), self.setpoint_w - step), self.setpoint_w + step)

    def _snapshot(self) -> Snapshot:
        est = self.packs.soc_estimated_pct()
        cap = self.capacity_wh
        battery = float(self.packs.power_w.sum())
        load, pv = self.packs.now_load_w, self.packs.now_pv_w
        return Snapshot(
            battery_power_w=battery,
            soc_pct=float(sum(s * c for s, c in zip(est, cap, strict=True)) / cap.sum()),
            pack_soc_pct=tuple(float(s) for s in est),
            pack_power_w=tuple(float(p) for p in self.packs.power_w),
            setpoint_w=self.setpoint_w,
            commanded_w=self.commanded_w,
            load_w=load,
            pv_w=pv,
            grid_w=self.site_grid_w() if self.site_grid_w is not None else load - pv - battery,
        )

    def snapshot(self) -> Snapshot:
        """The telemetry in force (frozen while ``freeze_telemetry``)."""
        return self._frozen or self._snapshot()

    def true_state(self) -> Snapshot:
        """The device as it is now, whatever its telemetry shows (a meter sees this)."""
        return self._snapshot()

    def ac_output_w(self) -> float:
        """What the device gives its home now, W: battery + its own PV (< 0 while it charges from AC)."""
        return float(self.packs.power_w.sum()) + self.packs.now_pv_w


async def run_device(
    device: FirmwareDevice, stop: asyncio.Event, tick_s: float = 0.1, on_tick: Callable[[], None] | None = None
) -> None:
    """Step ``device`` every ``tick_s`` wall seconds until ``stop`` is set; ``on_tick`` runs after each step."""
    async for dt_s in ticks(stop, tick_s):
        device.step(dt_s)
        if on_tick is not None:
            on_tick()
