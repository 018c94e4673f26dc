"""What socbal's own device drivers share, whatever carries them (Modbus ``socbal-modbus``, MQTT ``socbal-mqtt``).

socbal's own device takes per-pack setpoints; the driver is its firmware for the home: a device setpoint
is shared among the packs by socbal's EMS (:func:`socbal.ems.decision.decide` with ``[devices.settings]``),
and written with the watchdog timeout, so that a dead socbal leaves every pack at 0 W after ``watchdog_s``
(the device's own expiry). The keep-alive rewrites (and re-shares) the setpoint in force well inside that
timeout. Telemetry: the packs' power summed, SOC capacity-weighted, each pack's SOC; a pack whose telemetry
is missing, stale (``max_telemetry_age_s``), out of range or reported offline is left out (0 W).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ClassVar

from pydantic import Field, model_validator

from socbal.drivers.base import DeviceTelemetry, DriverConfig, DriverError, PacedDriver, battery_state
from socbal.ems.decision import decide
from socbal.ems.models import AllocateInput, PackState, Request, Settings
from socbal.runtime.config import PackConfig
from socbal.runtime.link import DeviceLink
from socbal.runtime.telemetry import PackReading, pack_fault


class SocbalPacksConfig(DriverConfig):
    """The fields of a socbal device (packs behind their own DC-DC modules) whatever the transport."""

    #: Per-pack setpoints are cheap to write; the keep-alive stays well inside the watchdog.
    pacing_defaults: ClassVar[dict[str, float | None]] = {"min_write_interval_s": 1.0, "deadband_w": 10.0, "keepalive_s": 3.0}
    packs: list[PackConfig] = Field(min_length=1, description="Packs in the device's order: id, capacity, hard power caps")
    settings: Settings = Field(default_factory=Settings, description="How the device's packs share its setpoint (EMS)")
    watchdog_s: int = Field(10, ge=1, le=3600, description="Written to the device: without a setpoint this long, 0 W")
    max_telemetry_age_s: float = Field(5.0, gt=0, le=3600, description="Older pack telemetry: the pack is offline, s")

    @model_validator(mode="after")
    def _keepalive_inside_watchdog(self) -> "SocbalPacksConfig":
        keepalive = self.pacing.keepalive_s
        if keepalive is None or keepalive >= self.watchdog_s:
            raise ValueError(f"pacing.keepalive_s must be below watchdog_s ({self.watchdog_s} s), or every setpoint expires")
        return self


class SocbalPacksDriver(PacedDriver):
    """One socbal device behind a :class:`~socbal.runtime.link.DeviceLink`, its packs shared by the EMS."""

    config: SocbalPacksConfig

    def __init__(self, config: SocbalPacksConfig, link: DeviceLink, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(config.pacing, clock)
        self.config = config
        self.link = link
        self.readings: dict[str, PackReading] = {}  # the last good reading of every online pack
        self._latched: dict[str, bool] = {}
        self._warm_up()

    def _warm_up(self) -> None:
        """One sharing on made-up packs, so that the compiled EMS is loaded now, not while the event loop waits."""
        packs = [
            PackState(id=p.id, soc_pct=50.0, capacity_wh=p.capacity_wh, max_discharge_w=1.0, max_charge_w=1.0)
            for p in self.config.packs
        ]
        decide(AllocateInput(settings=self.config.settings, packs=packs, request=Request(discharge_w=1.0)))

    def clamp_w(self, setpoint_w: float) -> float:
        """Within what the packs together may do (their configured caps), W."""
        top = sum(p.max_discharge_w for p in self.config.packs)
        low = sum(p.max_charge_w for p in self.config.packs)
        return float(round(max(-low, min(top, setpoint_w))))

    def share(self, setpoint_w: float) -> dict[str, float]:
        """Per-pack setpoints for a device setpoint: the EMS over the online packs, 0 W for the others."""
        out = {p.id: 0.0 for p in self.config.packs}
        online = [p for p in self.config.packs if p.id in self.readings]
        if setpoint_w == 0.0 or not online:
            return out
        states = [
            PackState(
                id=p.id,
                soc_pct=min(max(self.readings[p.id].soc_pct, 0.0), 100.0),
                capacity_wh=p.capacity_wh,
                max_discharge_w=min(p.max_discharge_w, max(self.readings[p.id].max_discharge_w, 0.0)),
                max_charge_w=min(p.max_charge_w, max(self.readings[p.id].max_charge_w, 0.0)),
                reserve_latched=self._latched.get(p.id, False),
            )
            for p in online
        ]
        request = Request(discharge_w=setpoint_w) if setpoint_w > 0 else Request(charge_w=-setpoint_w, source="pv+ac")
        decision = decide(AllocateInput(settings=self.config.settings, packs=states, request=request))
        for d in decision.packs:
            out[d.id] = d.power_w
            self._latched[d.id] = d.reserve_latched
        return out

    async def _send(self, setpoint_w: float) -> float:
        if not await self.link.write(self.share(setpoint_w), self.config.watchdog_s):
            raise DriverError(f"{self.config.id}: {self.link.last_error or 'setpoint write failed'}")
        return setpoint_w

    def reading_time_s(self, readings: list[PackReading], now_s: float) -> float:
        """When a reading made of ``readings`` was taken (monotonic s): when it arrived, for a link that asks."""
        return now_s

    async def read(self) -> DeviceTelemetry:
        """Every pack's telemetry (a pack with stale or bad telemetry counts as offline: 0 W, left out)."""
        await self.flush()
        tel = await self.link.read()
        if "link" in tel.errors:
            raise DriverError(f"{self.config.id}: {tel.errors['link']}")
        now = time.monotonic()
        faults: dict[str, str] = {}
        self.readings = {}
        for p in self.config.packs:
            reading = tel.packs.get(p.id)
            problem = tel.errors.get(p.id) or pack_fault(reading, now, self.config.max_telemetry_age_s)
            if problem is None and reading is not None:
                self.readings[p.id] = reading
            else:
                faults[p.id] = problem or "missing"
        if not self.readings:
            raise DriverError(
                f"{self.config.id}: no pack has usable telemetry ({'; '.join(f'{k}: {v}' for k, v in faults.items())})"
            )
        packs = [p for p in self.config.packs if p.id in self.readings]
        capacity = sum(p.capacity_wh for p in packs)
        soc = sum(self.readings[p.id].soc_pct * p.capacity_wh for p in packs) / capacity
        power = sum(self.readings[p.id].power_w for p in packs)
        pack_soc = tuple(self.readings[p.id].soc_pct for p in packs)
        return DeviceTelemetry(
            time_s=self.reading_time_s(list(self.readings.values()), now),
            battery_power_w=power,
            soc_pct=soc,
            pack_soc_pct=pack_soc,
            weakest_soc_pct=min(pack_soc),
            max_discharge_w=sum(min(p.max_discharge_w, self.readings[p.id].max_discharge_w) for p in packs),
            max_charge_w=sum(min(p.max_charge_w, self.readings[p.id].max_charge_w) for p in packs),
            reserve_pct=float(self.config.settings.backup_reserve_pct),
            setpoint_w=self.pacer.sent_w,
            state=battery_state(power, 5.0),
            online=True,
            fault="; ".join(f"pack {k}: {v}" for k, v in faults.items()) or None,
        )

    async def close(self) -> None:
        """Every pack to 0 W (best effort; the watchdog does it anyway), then close the connection."""
        try:
            await self.link.write({p.id: 0.0 for p in self.config.packs}, self.config.watchdog_s)
        finally:
            await self.link.close()
