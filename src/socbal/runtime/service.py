"""The runtime: the asyncio control loop tying link, EMS, settings, event log, MQTT and HTTP together.

Each cycle (every ``runtime.period_s``): apply a queued settings change, read
telemetry, :func:`~socbal.runtime.control.plan_cycle`, log new/cleared faults
and changed setpoints, write the setpoints, publish state. On stop every pack
is commanded to 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from pydantic import SecretStr

from socbal.runtime.api import api_server, create_app
from socbal.runtime.config import RuntimeConfig
from socbal.runtime.control import CyclePlan, SettingsController, plan_cycle
from socbal.runtime.modbus import ModbusLink
from socbal.runtime.mqtt import MqttService
from socbal.runtime.secrets import read_secret
from socbal.runtime.store import StateStore
from socbal.runtime.telemetry import FaultTracker, Telemetry

log = logging.getLogger("socbal.runtime")


class Runtime:
    """One device under control. Build with :meth:`from_config`; run with ``await runtime.run(stop)``."""

    def __init__(self, cfg: RuntimeConfig, mqtt_password: SecretStr | None = None, api_token: SecretStr | None = None) -> None:
        self.cfg = cfg
        self.store = StateStore(cfg.runtime.state_db)
        self.settings = SettingsController(self.store, cfg.settings, cfg.pack_ids)
        self.api_token = api_token
        self.mqtt = MqttService(cfg, self.settings, self.store, mqtt_password) if cfg.mqtt is not None else None
        if cfg.link == "modbus":
            assert cfg.modbus is not None
            self.link = ModbusLink(cfg.modbus, cfg.packs, cfg.runtime.reconnect_min_s, cfg.runtime.reconnect_max_s)
        else:
            self.link = self.mqtt
        self.faults = FaultTracker()
        self.latched: dict[str, bool] = {}
        self.last_plan: CyclePlan | None = None
        self.last_telemetry: Telemetry | None = None
        self.cycles = 0
        self.http_port: int | None = None
        self._logged: tuple[dict[str, float], float] | None = None  # last logged setpoints and when

    @classmethod
    def from_config(cls, cfg: RuntimeConfig) -> "Runtime":
        """Resolve secrets (environment or file; :class:`InputError` when missing) and build the runtime."""
        password = token = None
        if cfg.mqtt is not None:
            password = read_secret("mqtt password", cfg.mqtt.password_env, cfg.mqtt.password_file)
        if cfg.http.enabled:
            token = read_secret("http token", cfg.http.token_env, cfg.http.token_file)
        return cls(cfg, mqtt_password=password, api_token=token)

    def state(self) -> dict:
        """What the runtime knows now (for MQTT state and the HTTP API); no secrets."""
        plan = self.last_plan
        s = self.settings.current
        return {
            "name": self.cfg.name,
            "cycles": self.cycles,
            "settings": {"backup_reserve_pct": s.backup_reserve_pct, "strategy": s.strategy},
            "soc_pct": dict(plan.soc_pct) if plan else {},
            "setpoints_w": dict(plan.setpoints_w) if plan else {},
            "request_w": plan.request_w if plan else 0.0,
            "online": plan.online if plan else [],
            "faults": dict(self.faults.active),
        }

    async def cycle(self) -> CyclePlan:
        """One control cycle (see the module docstring)."""
        applied = self.settings.apply_pending()
        if applied is not None:
            log.info("settings applied: reserve %g %%, strategy %s", applied.backup_reserve_pct, applied.strategy)
        tel = await self.link.read()
        backup_was_on = self.last_plan is not None and self.last_plan.backup_charging
        plan = plan_cycle(self.cfg, self.settings.current, tel, time.monotonic(), self.latched, backup_was_on)
        self.latched = plan.latched
        self.last_telemetry = tel
        self.last_plan = plan
        new, cleared = self.faults.update(plan.faults)
        for key, message in new.items():
            pack = key if key in self.cfg.pack_ids else None
            text = message if message.startswith(f"{key}:") else f"{key}: {message}"
            self.store.log("link" if key == "link" else "fault", text, pack_id=pack)
            log.warning("fault %s: %s", key, message)
        for key in cleared:
            pack = key if key in self.cfg.pack_ids else None
            self.store.log("link" if key == "link" else "recovered", f"{key}: back to normal", pack_id=pack)
            log.info("recovered: %s", key)
        self._log_setpoints(plan)
        await self.link.write(plan.setpoints_w, self.cfg.runtime.watchdog_s)
        self.cycles += 1
        if self.mqtt is not None:
            await self.mqtt.publish_state(self.state())
        return plan

    def _log_setpoints(self, plan: CyclePlan) -> None:
        rt = self.cfg.runtime
        now = time.monotonic()
        if self._logged is not None:
            last, when = self._logged
            changed = any(abs(plan.setpoints_w[k] - last.get(k, 0.0)) > rt.setpoint_log_deadband_w for k in plan.setpoints_w)
            if not changed and now - when < rt.setpoint_log_interval_s:
                return
        self._logged = (dict(plan.setpoints_w), now)
        text = ", ".join(f"{k}={v:.0f} W" for k, v in plan.setpoints_w.items())
        self.store.log(
            "setpoints",
            text,
            data={"setpoints_w": plan.setpoints_w, "soc_pct": plan.soc_pct, "request_w": plan.request_w, "reasons": plan.reasons},
        )

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Run cycles every ``period_s`` until ``stop`` is set (or the task is cancelled); then shut down safely."""
        stop = stop or asyncio.Event()
        period = self.cfg.runtime.period_s
        tasks: list[asyncio.Task] = []
        server = None
        self.store.log("start", f"runtime {self.cfg.name} started (link {self.cfg.link}, period {period:g} s)")
        try:
            if self.mqtt is not None:
                tasks.append(asyncio.create_task(self.mqtt.run(), name="mqtt"))
            if self.cfg.http.enabled:
                server = api_server(create_app(self, self.api_token), self.cfg.http.host, self.cfg.http.port)
                tasks.append(asyncio.create_task(server.serve(), name="http"))
                for _ in range(100):  # wait until it listens, to know the port
                    if server.started or tasks[-1].done():
                        break
                    await asyncio.sleep(0.02)
                if server.started:
                    self.http_port = server.servers[0].sockets[0].getsockname()[1]
            loop = asyncio.get_running_loop()
            next_t = loop.time()
            while not stop.is_set():
                try:
                    await self.cycle()
                except Exception as err:  # noqa: BLE001 - a bug must not stop the loop; it is logged once
                    new, _ = self.faults.update({**self.faults.active, "internal": f"internal: {err!r}"})
                    if new:
                        self.store.log("fault", f"internal: {err!r}")
                    log.exception("control cycle failed")
                next_t += period
                delay = next_t - loop.time()
                if delay < 0:  # running late: skip missed ticks rather than bunch them up
                    next_t = loop.time()
                    delay = 0.0
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    self.link.write({p.id: 0.0 for p in self.cfg.packs}, self.cfg.runtime.watchdog_s), timeout=2
                )
            if self.mqtt is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.mqtt.close(), timeout=2)
            if server is not None:
                server.should_exit = True
            for t in tasks:
                if t.get_name() != "http":
                    t.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=5)
            if isinstance(self.link, ModbusLink):
                await self.link.close()
            self.store.log("stop", f"runtime {self.cfg.name} stopped")
            self.store.close()
