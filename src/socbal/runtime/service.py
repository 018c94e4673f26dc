"""The runtime: the asyncio control loop tying link, EMS, settings, event log, MQTT and HTTP together.

Each cycle (every ``runtime.period_s``): apply a queued settings change, read
telemetry, :func:`~socbal.runtime.control.plan_cycle`, log new/cleared faults
and changed setpoints, count the battery and grid energy (saved every
``runtime.energy_persist_s``), write the setpoints, publish state. The MQTT connection
and the HTTP server are supervised tasks (restarted with backoff when they die,
their health in :meth:`Runtime.state`); the event log is written off the event
loop. At start the loop waits up to ``runtime.startup_wait_s`` for the link, and
"missing telemetry" is not a fault while the runtime is ``starting``. On stop
every pack is commanded to 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time

from pydantic import SecretStr

from socbal.ems.models import Settings
from socbal.runtime.config import RuntimeConfig
from socbal.runtime.control import CyclePlan, plan_cycle
from socbal.runtime.energy import EnergyMeter
from socbal.runtime.link import DeviceLink
from socbal.runtime.modbus import ModbusLink
from socbal.runtime.mqtt import MqttService
from socbal.runtime.settings import SettingsController
from socbal.runtime.store import StateStore
from socbal.runtime.supervise import run_periodically
from socbal.runtime.supervised import SupervisedService, service_secrets
from socbal.runtime.telemetry import DeviceReading, PackReading, Telemetry, fault_code

log = logging.getLogger("socbal.runtime")


def battery_power_w(plan: CyclePlan | None) -> float | None:
    """The packs' measured power together, W (+ discharge), or ``None`` when no pack reported."""
    return sum(plan.power_w.values()) if plan is not None and plan.power_w else None


class Runtime(SupervisedService[Settings]):
    """One device under control. Build with :meth:`from_config`; run with ``await runtime.run(stop)``.

    Holds the state database's instance lock from construction until :meth:`run` ends
    (or :meth:`close`): a second runtime on the same ``runtime.state_db`` is refused.
    """

    logger = log
    cycle_failed_text = "control cycle failed"

    def __init__(
        self,
        cfg: RuntimeConfig,
        mqtt_password: SecretStr | None = None,
        api_token: SecretStr | None = None,
        settings_token: SecretStr | None = None,
        reset_settings: bool = False,
    ) -> None:
        self.cfg = cfg
        rt = cfg.runtime
        store = StateStore.with_limits(rt.state_db, rt)
        settings = SettingsController(store, cfg.settings, cfg.pack_ids, reset=reset_settings)
        mqtt = MqttService(cfg, settings, store, mqtt_password, settings_token) if cfg.mqtt is not None else None
        self.link: DeviceLink
        if cfg.link == "modbus":
            assert cfg.modbus is not None
            self.link = ModbusLink(cfg.modbus, cfg.packs, rt.reconnect_min_s, rt.reconnect_max_s)
        else:
            assert mqtt is not None
            self.link = mqtt
        super().__init__(store, settings, cfg.http, mqtt, api_token, rt.reconnect_min_s, rt.reconnect_max_s)
        self._unlogged: set[str] = set()  # faults seen while starting, not logged (so no "recovered" either)
        self.latched: dict[str, bool] = {}
        self.last_plan: CyclePlan | None = None
        self.energy = EnergyMeter(self.store.load_energy(), max_gap_s=max(rt.max_telemetry_age_s, 2.0 * rt.period_s))
        self._energy_saved_s = -math.inf
        self._warm_up()

    @classmethod
    def from_config(cls, cfg: RuntimeConfig, reset_settings: bool = False) -> "Runtime":
        """Resolve secrets (environment or file; :class:`InputError` when missing or unusable) and build the runtime."""
        password, settings_token, token = service_secrets(cfg.mqtt, cfg.http)
        return cls(cfg, mqtt_password=password, api_token=token, settings_token=settings_token, reset_settings=reset_settings)

    def state(self) -> dict:
        """What the runtime knows now (for MQTT state and the HTTP API); no secrets."""
        plan = self.last_plan
        s = self.settings.current
        return {
            "name": self.cfg.name,
            "phase": self.phase,
            "cycles": self.cycles,
            "cycle_s": {"last": round(self.last_cycle_s, 4), "max": round(self.max_cycle_s, 4)},
            "settings": {"backup_reserve_pct": s.backup_reserve_pct, "strategy": s.strategy},
            "soc_pct": dict(plan.soc_pct) if plan else {},
            "setpoints_w": dict(plan.setpoints_w) if plan else {},
            "request_w": plan.request_w if plan else 0.0,
            "power_w": dict(plan.power_w) if plan else {},
            "battery_power_w": battery_power_w(plan),
            "grid_w": plan.grid_w if plan else None,
            "energy_kwh": self.store.committed_energy(),
            "online": plan.online if plan else [],
            **self._service_state(),
        }

    def _broker_faults(self) -> dict[str, str]:
        return {} if self.link is self.mqtt else super()._broker_faults()  # the MQTT link's own fault says it

    def _current_faults(self, plan: CyclePlan) -> dict[str, str]:
        return {**plan.faults, **self._service_faults()}

    def _log_faults(self, faults: dict[str, str]) -> None:
        if self.phase == "starting":
            age_limit = self.cfg.runtime.startup_wait_s + self.cfg.runtime.max_telemetry_age_s
            if not any(fault_code(m) == "missing" for m in faults.values()) or time.monotonic() - self._started_s > age_limit:
                self.phase = "running"
                self.faults.active = {k: v for k, v in self.faults.active.items() if k not in self._unlogged}
                self._unlogged.clear()
        new, cleared = self.faults.update(faults)
        for key, message in new.items():
            if self.phase == "starting" and fault_code(message) == "missing":
                self._unlogged.add(key)
                continue
            self._unlogged.discard(key)
            pack = key if key in self.cfg.pack_ids else None
            text = message if message.startswith(f"{key}:") else f"{key}: {message}"
            self.store.log("link" if key == "link" else "fault", text, pack_id=pack)
            log.warning("fault %s: %s", key, message)
        for key in cleared:
            if key in self._unlogged:
                self._unlogged.discard(key)
                continue
            pack = key if key in self.cfg.pack_ids else None
            self.store.log("link" if key == "link" else "recovered", f"{key}: back to normal", pack_id=pack)
            log.info("recovered: %s", key)

    async def cycle(self) -> CyclePlan:
        """One control cycle (see the module docstring)."""
        started = time.monotonic()
        applied = self.settings.apply_pending()
        if applied is not None:
            log.info("settings applied: reserve %g %%, strategy %s", applied.backup_reserve_pct, applied.strategy)
        tel = await self.link.read()
        backup_was_on = self.last_plan is not None and self.last_plan.backup_charging
        plan = plan_cycle(self.cfg, self.settings.current, tel, time.monotonic(), self.latched, backup_was_on)
        self.latched = plan.latched
        self.last_plan = plan
        self._log_faults(self._current_faults(plan))
        self._log_setpoints(plan)
        self._meter_energy(plan)
        await self.link.write(plan.setpoints_w, self.cfg.runtime.watchdog_s)
        await self._cycle_done(started)
        return plan

    def _meter_energy(self, plan: CyclePlan, final: bool = False) -> None:
        """Count this cycle's battery and grid power into the energy totals; save them when due (or ``final``)."""
        now = time.monotonic()
        self.energy.update(now, {"battery": battery_power_w(plan), "grid": plan.grid_w})
        due = final or now - self._energy_saved_s >= self.cfg.runtime.energy_persist_s
        if self.energy.totals and due and self.store.save_energy(self.energy.totals):
            self._energy_saved_s = now

    def _log_setpoints(self, plan: CyclePlan) -> None:
        rt = self.cfg.runtime
        data = {"setpoints_w": plan.setpoints_w, "soc_pct": plan.soc_pct, "request_w": plan.request_w, "reasons": plan.reasons}
        self._log_setpoints_when_due(
            plan.setpoints_w, time.monotonic(), rt.setpoint_log_deadband_w, rt.setpoint_log_interval_s, data
        )

    def _announce_start(self) -> None:
        period = self.cfg.runtime.period_s
        text = f"runtime {self.cfg.name} started (link {self.cfg.link}, period {period:g} s)"
        overrides = self.settings.stored_overrides()
        if overrides:
            which = ", ".join(f"{k}={v!r} (config {c!r})" for k, (v, c) in overrides.items())
            note = (
                f"settings from the stored state {self.store.path} override the config: {which}; "
                "start with --reset-settings to use the config's"
            )
            log.warning("%s", note)
            text = f"{text}; {note}"
        self.store.log("start", text)

    def _warm_up(self) -> None:
        """Plan a discharge and a charge once on made-up telemetry, so that compiled code is ready before the first cycle.

        Done at construction, before the runtime starts: a first call compiles or loads the EMS (seconds).
        """
        now = time.monotonic()
        packs = {p.id: PackReading(50.0, 0.0, p.max_discharge_w, p.max_charge_w, True, now) for p in self.cfg.packs}
        for pv_w, load_w in ((0.0, 500.0), (2000.0, 0.0)):
            tel = Telemetry(device=DeviceReading(pv_w, load_w, True, now), packs=dict(packs))
            plan_cycle(self.cfg, self.settings.current, tel, now, {})

    async def _wait_for_link(self, stop: asyncio.Event) -> None:
        """Up to ``startup_wait_s``: read until the link answers (the first cycle then sees a connected link)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.cfg.runtime.startup_wait_s
        while not stop.is_set() and loop.time() < deadline:
            if "link" not in (await self.link.read()).errors:
                return
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=0.05)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Run cycles every ``period_s`` until ``stop`` is set (or the task is cancelled); then shut down safely."""
        stop = stop or asyncio.Event()
        period = self.cfg.runtime.period_s
        self._started_s = time.monotonic()
        self._announce_start()
        try:
            await self._start_services()
            await self._wait_for_link(stop)
            await run_periodically(stop, lambda: period, self.cycle, self._cycle_failed)
        finally:
            await self._shut_down()

    async def _shut_down(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.link.write({p.id: 0.0 for p in self.cfg.packs}, self.cfg.runtime.watchdog_s), timeout=2)
        await self._stop_services()
        if isinstance(self.link, ModbusLink):
            await self.link.close()
        if self.last_plan is not None:
            self._meter_energy(self.last_plan, final=True)
        await self._close_store(f"runtime {self.cfg.name} stopped")
