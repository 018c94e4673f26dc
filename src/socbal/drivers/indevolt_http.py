"""Indevolt OpenData HTTP driver (SolidFlex / PowerFlex 2000, BK1600): JSON-RPC on port 8080.

Reads with ``POST /rpc/Indevolt.GetData?config={"t":[points]}``; controls in
real-time control mode (point 47005 = 4) by writing state, power and target
SOC together to 47015-47017. The device keeps the last command (no expiry is
documented), so every discharge command carries the backup SOC as its target
and every charge command the charge target: the device stops there by itself.
Facts and their sources: ``docs/devices.md``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any, ClassVar, Literal

import httpx
from pydantic import Field

from socbal.drivers.base import (
    DeviceTelemetry,
    DriverConfig,
    DriverError,
    PacedDriver,
    battery_state,
    http_call,
    json_object,
)
from socbal.runtime.secrets import SecretFields

#: Points (cJSON ``t``) of the SolidFlex/PowerFlex 2000 read and written here (open-data.md §6).
BATTERY_POWER, BATTERY_STATE, TOTAL_SOC, BACKUP_SOC, WORKING_MODE, RATED_KWH = 6000, 6001, 6002, 6105, 7101, 142
PACK_SOC = (9000, 9016, 9035, 9054, 9149, 9202)  # main unit's battery, packs 1-5
MODE_SETTING, REALTIME_COMMAND = 47005, 47015  # 47015 + 47016 + 47017: state, power W, target SOC %
REALTIME_MODE, SELF_CONSUMPTION_MODE = 4, 1
STATE_STANDBY, STATE_CHARGE, STATE_DISCHARGE = 0, 1, 2
STATE_CODES = {1000: "standby", 1001: "charging", 1002: "discharging"}  # point 6001
MAX_POWER_W = {"sf2000": 2400.0, "bk1600": 1200.0}
MIN_POWER_W = 50.0  # smallest power 47016 accepts; below it the driver commands standby


class IndevoltConfig(DriverConfig, SecretFields):
    """``driver = "indevolt-http"``: one Indevolt device on the local network."""

    #: The vendor recommends >= 5 s between requests: no faster than that between writes.
    pacing_defaults: ClassVar[dict[str, float | None]] = {"min_write_interval_s": 5.0, "deadband_w": 25.0}
    driver: Literal["indevolt-http"] = "indevolt-http"
    port: int = Field(8080, ge=1, le=65535)
    model: Literal["sf2000", "bk1600"] = Field("sf2000", description="sf2000 (SolidFlex/PowerFlex 2000) or bk1600")
    packs: int = Field(0, ge=0, le=5, description="Expansion packs fitted (their SOC points are read)")
    username: str = Field("opend", min_length=1, description="HTTP Digest user (with password_env/password_file)")
    min_request_interval_s: float = Field(1.0, ge=0, le=60, description="Least time between requests, s (documented: 1)")
    charge_target_soc_pct: float = Field(100.0, ge=5, le=100, description="Target SOC of a charge command, %")
    on_close: Literal["self-consumption", "standby", "keep"] = Field(
        "self-consumption", description="What the device does once socbal stops: its own mode, standby, or the last command"
    )


def _config_param(obj: dict[str, Any]) -> dict[str, str]:
    return {"config": json.dumps(obj, separators=(",", ":"))}


class IndevoltDriver(PacedDriver):
    """Telemetry and real-time control of one Indevolt device."""

    config: IndevoltConfig

    def __init__(self, config: IndevoltConfig, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(config.pacing, clock)
        self.config = config
        password = config.password(f"{config.id}: indevolt password")
        auth = httpx.DigestAuth(config.username, password.get_secret_value()) if password is not None else None
        self._http = httpx.AsyncClient(
            base_url=f"http://{config.host}:{config.port}",
            auth=auth,
            timeout=config.timeout_s,
            transport=httpx.AsyncHTTPTransport(retries=config.retries),
        )
        self._last_request_s = -1e9
        self._lock = asyncio.Lock()
        self.realtime_mode = False
        self.reserve_pct = 10.0
        self.max_power_w = MAX_POWER_W[config.model]

    async def _rpc(self, api: str, config: dict[str, Any]) -> dict[str, Any]:
        """One request, spaced at least ``min_request_interval_s`` from the previous one."""
        async with self._lock:
            wait = self._last_request_s + self.config.min_request_interval_s - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                response = await http_call(self._http, self.config.id, "POST", f"/rpc/{api}", params=_config_param(config))
            finally:
                self._last_request_s = time.monotonic()
        return json_object(response, self.config.id, api)

    async def _set(self, point: int, values: list[int]) -> None:
        data = await self._rpc("Indevolt.SetData", {"f": 16, "t": point, "v": values})
        if data.get("result") is not True:
            raise DriverError(f"{self.config.id}: the device refused point {point} = {values}")

    def clamp_w(self, setpoint_w: float) -> float:
        """Within +-max power; below the 50 W the device accepts, standby (0 W)."""
        value = max(-self.max_power_w, min(self.max_power_w, setpoint_w))
        return 0.0 if abs(value) < MIN_POWER_W else float(round(value))

    async def _send(self, setpoint_w: float) -> float:
        if not self.realtime_mode:
            await self._set(MODE_SETTING, [REALTIME_MODE])
            self.realtime_mode = True
        if setpoint_w > 0:
            command = [STATE_DISCHARGE, int(setpoint_w), int(round(max(self.reserve_pct, 5.0)))]
        elif setpoint_w < 0:
            command = [STATE_CHARGE, int(-setpoint_w), int(round(self.config.charge_target_soc_pct))]
        else:
            command = [STATE_STANDBY, 0, int(round(max(self.reserve_pct, 5.0)))]
        await self._set(REALTIME_COMMAND, command)
        return setpoint_w

    async def read(self) -> DeviceTelemetry:
        """Battery power, SOC (total and per battery), backup SOC and state in one request."""
        await self.flush()
        pack_points = PACK_SOC[: 1 + self.config.packs]
        points = [BATTERY_POWER, BATTERY_STATE, TOTAL_SOC, BACKUP_SOC, WORKING_MODE, *pack_points]
        data = await self._rpc("Indevolt.GetData", {"t": points})
        try:
            value = {p: float(data[str(p)]) for p in points}
        except (KeyError, TypeError, ValueError):
            raise DriverError(f"{self.config.id}: GetData answer lacks a number for one of {points}: {data}") from None
        state = STATE_CODES.get(int(value[BATTERY_STATE]))
        # The sign of 6000 is undocumented: take its size, and the direction from the state point 6001.
        power = abs(value[BATTERY_POWER])
        power = -power if state == "charging" else (0.0 if state == "standby" else power)
        self.reserve_pct = value[BACKUP_SOC]
        self.realtime_mode = int(value[WORKING_MODE]) == REALTIME_MODE
        packs = tuple(value[p] for p in pack_points)
        sent = self.pacer.sent_w
        return DeviceTelemetry(
            time_s=time.monotonic(),
            battery_power_w=power,
            soc_pct=value[TOTAL_SOC],
            pack_soc_pct=packs,
            weakest_soc_pct=min(packs) if packs else value[TOTAL_SOC],
            max_discharge_w=self.max_power_w,
            max_charge_w=self.max_power_w,
            reserve_pct=value[BACKUP_SOC],
            setpoint_w=sent if self.realtime_mode else None,
            state=state or battery_state(power),
            online=True,
            fault=None if state is not None else f"unknown battery state {int(value[BATTERY_STATE])}",
        )

    async def close(self) -> None:
        """Apply ``on_close`` (best effort: the device may be gone), then close the HTTP client."""
        try:
            if self.config.on_close == "self-consumption":
                await self._set(MODE_SETTING, [SELF_CONSUMPTION_MODE])
            elif self.config.on_close == "standby":
                await self._set(REALTIME_COMMAND, [STATE_STANDBY, 0, int(round(max(self.reserve_pct, 5.0)))])
        except DriverError:
            pass
        finally:
            await self._http.aclose()
