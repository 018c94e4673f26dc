"""The live home controller: every period, the meter and every device read together, the home decision, the writes.

Each device has its own task (:meth:`DeviceSlot.run`): it reads the device as often as
its driver allows and sends the newest setpoint the controller offered when the driver's
pacing allows. A cycle reads the meter and decides on the latest telemetry of every
device (a device silent for ``telemetry_max_age_s`` is offline). The decision runs at most once per meter
reading, on a reading newer than every device's last setpoint change plus its ``latency_s`` (until then the
meter and the device's telemetry may disagree: a report that echoes the old value, the meter's own delay) and
that every device still in motion has been read since; a device steady at its setpoint counts at what it
reports, however slowly its driver may poll it (:mod:`socbal.homectl.timing`), so an Indevolt's request spacing
holds decisions back only while its output moves. A device that is slow to start is not
waited for: the home decision counts it at what it delivers (``follow_s``) and the
others cover the rest; from its first command on, the devices the decision lowers keep covering what it does not
deliver yet (make-before-break, :mod:`socbal.homectl.handover`). The home's battery request is the grid power
minus ``home.grid_target_w`` plus what the reachable devices deliver now; the home
decision (:func:`socbal.home.decision.decide_home`) splits it, and each share is offered
to its driver (newest replaces pending; never a stale value). Fail-safes
(``[fail_safe]``): a stale meter commands every device to 0 W or hands it back to its own
mode (never holds the last value); a device that delivers under ``follow_ratio`` of its
command at every decision for ``follow_timeout_s`` (counted in time, from its ``latency_s`` plus ``follow_s``
after its command on, so faster decisions do not exclude sooner; for a slow starter the three together must exceed its
start delay) is left out for ``exclude_s`` (not near its
reserve); an unreachable device is offline; in both cases the others take its share and
it rejoins when it is back. On stop every driver leaves its device as its ``on_close``
says (0 W, its own mode, or the device's own expiry). Faults are logged once when they
start and once when they clear; settings (``[home]``) change over HTTP and MQTT.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import time
from collections import deque

from pydantic import SecretStr

from socbal.home.decision import HomeDecision, decide_home
from socbal.home.models import DeviceState, HomeAllocateInput, HomeRequest
from socbal.homectl.config import HomeRunConfig, HomeSection
from socbal.homectl.devices import DeviceSlot
from socbal.homectl.handover import HOLDABLE, make_before_break
from socbal.homectl.mqtt import HomeMqtt
from socbal.homectl.timing import reading_to_decide_on
from socbal.meters.base import MeterError, MeterReading
from socbal.meters.registry import open_meter
from socbal.runtime.settings import SettingsController
from socbal.runtime.store import StateStore
from socbal.runtime.supervise import run_periodically
from socbal.runtime.supervised import SupervisedService, service_secrets

log = logging.getLogger("socbal.homectl")

#: Restart backoff of the supervised tasks (MQTT, HTTP), s.
RESTART_MIN_S, RESTART_MAX_S = 0.5, 30.0
#: A device's reason while it keeps part of its old setpoint for a device that does not deliver yet.
HELD_FOR_HANDOVER = "handing over: keeps covering what a rising device does not deliver yet (make-before-break)"


class HomeController(SupervisedService[HomeSection]):
    """One home under control. Build with :meth:`from_config`; run with ``await controller.run(stop)``.

    Holds the state database's instance lock from construction until :meth:`run` ends (or :meth:`close`).
    """

    logger = log
    cycle_failed_text = "home control cycle failed"

    def __init__(
        self,
        cfg: HomeRunConfig,
        api_token: SecretStr | None = None,
        mqtt_password: SecretStr | None = None,
        settings_token: SecretStr | None = None,
        reset_settings: bool = False,
    ) -> None:
        self.cfg = cfg
        store = StateStore.with_limits(cfg.store.path, cfg.store)
        try:
            settings = SettingsController(store, cfg.home, reset=reset_settings, check=lambda _s: ())
            self.meter = open_meter(cfg.meter)
            self.slots = [DeviceSlot(d, cfg.fail_safe) for d in cfg.devices]
        except BaseException:
            store.close()
            raise
        mqtt = HomeMqtt(cfg, settings, store, mqtt_password, settings_token) if cfg.mqtt is not None else None
        super().__init__(store, settings, cfg.http, mqtt, api_token, RESTART_MIN_S, RESTART_MAX_S)
        self.reading: MeterReading | None = None
        self.meter_error: str | None = None
        self.request_w = 0.0
        self.decision: HomeDecision | None = None
        self.decisions = 0
        self._decided_s = -math.inf
        self._decided_on_s = -math.inf  # arrival time of the reading the last decision used
        self._readings: deque[MeterReading] = deque(maxlen=32)  # the latest meter readings, oldest first
        self._warm_up()

    @classmethod
    def from_config(cls, cfg: HomeRunConfig, reset_settings: bool = False) -> "HomeController":
        """Resolve secrets (environment or file; :class:`InputError` when missing) and build the controller."""
        password, settings_token, token = service_secrets(cfg.mqtt, cfg.http)
        return cls(cfg, api_token=token, mqtt_password=password, settings_token=settings_token, reset_settings=reset_settings)

    def _warm_up(self) -> None:
        """One decision on made-up devices, so that the compiled kernel is loaded before the first cycle."""
        devices = [
            DeviceState(id=s.id, soc_pct=50.0, capacity_wh=1000.0, max_discharge_w=800.0, max_charge_w=800.0) for s in self.slots
        ]
        decide_home(HomeAllocateInput(devices=devices, request=HomeRequest(discharge_w=100.0)))

    # --- state and events -------------------------------------------------------------------------

    def device_state(self, slot: DeviceSlot, now_s: float) -> dict:
        """One device's state (status, MQTT): SOC, weakest pack SOC, power, setpoint, state, online."""
        tel = slot.telemetry
        online = slot.reachable
        return {
            "soc_pct": round(tel.soc_pct, 2) if tel is not None and online else None,
            "weakest_soc_pct": round(tel.weakest_soc_pct, 2) if tel is not None and online else None,
            "pack_soc_pct": list(tel.pack_soc_pct) if tel is not None and online else [],
            "power_w": round(tel.battery_power_w, 1) if tel is not None and online else None,
            "setpoint_w": slot.sent_w,
            "state": tel.state if tel is not None and online else "offline",
            "online": online,
            "excluded": slot.watch.excluded(now_s),
            "handed_back": slot.handed_back,
            "reason": slot.reason,
            "writes": slot.driver.pacer.writes,
            "fault": tel.fault if tel is not None else None,
            "error": slot.error,
        }

    def state(self) -> dict:
        """What the controller knows now (HTTP ``/status``, MQTT state); no secrets."""
        now = time.monotonic()
        s = self.settings.current
        reading = self.reading
        return {
            "name": self.cfg.name,
            "kind": "home",
            "phase": self.phase,
            "cycles": self.cycles,
            "decisions": self.decisions,
            "cycle_s": {"last": round(self.last_cycle_s, 4), "max": round(self.max_cycle_s, 4)},
            "settings": s.model_dump(),
            "meter": {
                "grid_power_w": reading.grid_power_w if reading is not None else None,
                "age_s": round(reading.age_s(now), 2) if reading is not None else None,
                "error": self.meter_error,
            },
            "request_w": round(self.request_w, 1),
            "devices": {slot.id: self.device_state(slot, now) for slot in self.slots},
            **self._service_state(),
        }

    def _current_faults(self, now_s: float) -> dict[str, str]:
        faults: dict[str, str] = {}
        if self.meter_error is not None:
            faults["meter"] = self.meter_error
        for slot in self.slots:
            device_fault = slot.take_fault()
            if slot.telemetry is None or not slot.reachable:
                faults[slot.id] = f"offline: {slot.error or 'no telemetry yet'}"
            elif device_fault is not None:
                faults[slot.id] = f"device: {device_fault}"
            if slot.watch.excluded(now_s):
                faults[f"{slot.id}:follow"] = (
                    f"not following: delivered under {self.cfg.fail_safe.follow_ratio:.0%} of its command for "
                    f"{self.cfg.fail_safe.follow_timeout_s:g} s; left out for {self.cfg.fail_safe.exclude_s:g} s"
                )
        return {**faults, **self._service_faults()}

    def _log_faults(self, now_s: float) -> None:
        if self.phase == "starting":
            unread = self.reading is None or any(slot.telemetry is None for slot in self.slots)
            if unread and now_s - self._started_s < self.cfg.meter.stale_after_s:
                return  # still coming up: not everything has answered once yet
            self.phase = "running"
        faults = self._current_faults(now_s)
        new, cleared = self.faults.update(faults)
        ids = set(self.cfg.device_ids)
        for key, message in new.items():
            device = key.split(":")[0] if key.split(":")[0] in ids else None
            self.store.log("fault", f"{key}: {message}", pack_id=device)
            log.warning("fault %s: %s", key, message)
        for key in cleared:
            device = key.split(":")[0] if key.split(":")[0] in ids else None
            self.store.log("recovered", f"{key}: back to normal", pack_id=device)
            log.info("recovered: %s", key)

    def _log_setpoints(self, now_s: float) -> None:
        st = self.cfg.store
        setpoints = {s.id: s.sent_w if s.sent_w is not None else 0.0 for s in self.slots}
        data = {
            "setpoints_w": setpoints,
            "request_w": self.request_w,
            "grid_power_w": self.reading.grid_power_w if self.reading is not None else None,
            "reasons": {s.id: s.reason for s in self.slots},
        }
        self._log_setpoints_when_due(setpoints, now_s, st.setpoint_log_deadband_w, st.setpoint_log_interval_s, data)

    # --- the cycle --------------------------------------------------------------------------------

    async def _read_meter(self) -> None:
        try:
            self.reading = await self.meter.read()
            self.meter_error = None
        except MeterError as err:
            self.meter_error = f"stale: {err}"
        except Exception as err:  # noqa: BLE001 - a meter bug counts as no reading
            self.meter_error = f"stale: meter: {err!r}"

    def _fail_safe(self) -> None:
        """Stale meter: every device to 0 W, or handed back to its own mode (only what socbal commanded)."""
        hand_back = self.cfg.fail_safe.stale_meter == "hand-back"
        for slot in self.slots:
            slot.reason = "meter stale: handed back to its own mode" if hand_back else "meter stale: 0 W"
            if slot.sent_w is None:
                continue
            if hand_back:
                slot.ask_hand_back()
            elif slot.sent_w != 0.0:
                slot.offer(0.0)

    def _to_decide_on(self) -> MeterReading | None:
        """The newest meter reading not decided on yet that every reachable device's telemetry may be added to
        (:func:`~socbal.homectl.timing.reading_to_decide_on`: newer than every device's last setpoint change plus its
        latency; a device in motion read since it); None when there is none (also while
        starting, until every device has answered once, and for readings from before the last one first answered:
        those show the devices still in their own modes)."""
        if any(s.telemetry is None for s in self.slots) and time.monotonic() - self._started_s < self.cfg.meter.stale_after_s:
            return None
        first_s = max((s.first_read_s for s in self.slots if math.isfinite(s.first_read_s)), default=-math.inf)
        tolerance_w = self.settings.current.follow_tolerance_w
        timings = [s.timing(tolerance_w) for s in self.slots if s.reachable]
        not_before_s = max(self._decided_on_s, math.nextafter(first_s, -math.inf))
        return reading_to_decide_on(self._readings, timings, not_before_s)

    def _request(self, reading: MeterReading, target_w: float) -> HomeRequest:
        measured = sum(s.telemetry.battery_power_w for s in self.slots if s.telemetry is not None and s.reachable)
        self.request_w = reading.grid_power_w - target_w + measured
        value = min(abs(self.request_w), 1e6)
        return HomeRequest(discharge_w=value) if self.request_w >= 0 else HomeRequest(charge_w=value)

    def _decide(self, reading: MeterReading, now_s: float) -> None:
        s = self.settings.current
        for slot in self.slots:
            slot.handed_back = False
            if slot.judge_following(now_s, s.follow_s):
                log.warning("%s does not follow its command: left out for %g s", slot.id, self.cfg.fail_safe.exclude_s)
        inp = HomeAllocateInput(
            settings=s.decision_settings(),
            devices=[slot.state(now_s) for slot in self.slots],
            circuits=self.cfg.circuits,
            request=self._request(reading, s.grid_target_w),
            cycle_s=min(max(now_s - self._decided_s, 0.01), s.period_s * 10),
        )
        self.decision = decide_home(inp)
        self._decided_s, self._decided_on_s = now_s, reading.time_s
        self.decisions += 1
        reasons = [d.reason for d in self.decision.devices]
        offers = make_before_break(inp.devices, [d.power_w for d in self.decision.devices], reasons, s.follow_tolerance_w)
        for slot, d, offer_w in zip(self.slots, self.decision.devices, offers, strict=True):
            if d.staged_on != slot.staged_on:
                slot.staged_on, slot.stage_changed_s = d.staged_on, now_s
            slot.reason = HELD_FOR_HANDOVER if d.reason in HOLDABLE and offer_w != d.power_w else d.reason
            if slot.reachable:
                slot.offer(offer_w)

    async def cycle(self) -> None:
        """One control cycle (see the module docstring)."""
        started = time.monotonic()
        self.settings.apply_pending()
        await self._read_meter()
        now = time.monotonic()
        if self.meter_error is not None or self.reading is None:
            self._fail_safe()
        else:
            if not self._readings or self._readings[-1] is not self.reading:
                self._readings.append(self.reading)
            reading = self._to_decide_on()
            if reading is not None:
                self._decide(reading, now)
        self._log_faults(now)
        self._log_setpoints(now)
        await self._cycle_done(started)

    # --- running ----------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Run cycles every ``home.period_s`` until ``stop`` is set (or the task is cancelled); then leave every device safe."""
        stop = stop or asyncio.Event()
        self._started_s = time.monotonic()
        drivers = ", ".join(f"{d.id} ({d.driver} {d.host}:{d.port})" for d in self.cfg.devices)
        self.store.log("start", f"home {self.cfg.name} started: {drivers}; meter {self.cfg.meter.kind}")
        try:
            for slot in self.slots:
                self.supervisor.start(f"device:{slot.id}", functools.partial(slot.run, self.cfg.home.period_s))
            await self._start_services()
            await run_periodically(stop, lambda: self.settings.current.period_s, self.cycle, self._cycle_failed)
        finally:
            await self._shut_down()

    async def _shut_down(self) -> None:
        self.phase = "stopping"
        self.supervisor.stopping()
        devices = [t for name, t in self.supervisor.tasks.items() if name.startswith("device:")]
        for task in devices:
            task.cancel()
        await asyncio.wait(devices, timeout=5) if devices else None
        await asyncio.gather(*(slot.close() for slot in self.slots))
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.meter.close(), timeout=2)
        await self._stop_services()
        await self._close_store(f"home {self.cfg.name} stopped; every device left to its own fallback")
