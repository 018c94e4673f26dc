"""Zendure zenSDK local HTTP driver (SolarFlow 800 / 800 Pro / 1600 AC+ / 2400 AC / AC+ / Pro).

Reads ``GET /properties/report``; writes ``POST /properties/write`` with
``{"sn", "properties": {acMode, outputLimit | inputLimit, smartMode: 1}}``
(``smartMode = 1`` keeps the write out of flash, so a reboot restores the
user's own settings: the device's fallback once socbal is gone). Discharge is
acMode 2 with outputLimit, charge acMode 1 with inputLimit; an outputLimit is
never negative (the device would then output high power). A change of
direction waits ``mode_change_interval_s`` since the last one; until then the
driver holds the device at 0 W in its current mode. Sources: ``docs/devices.md``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, ClassVar, Literal

import httpx
from pydantic import Field

from socbal.drivers.base import DeviceTelemetry, DriverConfig, DriverError, PacedDriver, battery_state, http_call, json_object

AC_MODE_INPUT, AC_MODE_OUTPUT = 1, 2  # acMode: 1 = charge from AC, 2 = discharge to AC
MAX_BODY_BYTES = 512  # the local API's receive length
ZendureModel = Literal[
    "solarflow-800", "solarflow-800-pro", "solarflow-1600-ac+", "solarflow-2400-ac", "solarflow-2400-ac+", "solarflow-2400-pro"
]
#: (max output W, max AC input W) per model.
MODEL_LIMITS_W: dict[str, tuple[float, float]] = {
    "solarflow-800": (800.0, 1000.0),
    "solarflow-800-pro": (800.0, 1000.0),
    "solarflow-1600-ac+": (1600.0, 2400.0),
    "solarflow-2400-ac": (2400.0, 2400.0),
    "solarflow-2400-ac+": (2400.0, 2400.0),
    "solarflow-2400-pro": (2400.0, 2400.0),
}


def clamp_setpoint_w(setpoint_w: float, max_output_w: float, max_input_w: float) -> float:
    """A setpoint within ``-max_input_w .. max_output_w``, whole watts."""
    return float(round(max(-max_input_w, min(max_output_w, setpoint_w))))


def write_body(serial: str, ac_mode: int, limit_w: int) -> bytes:
    """``{"sn", "properties": {acMode, outputLimit | inputLimit, smartMode: 1}}`` as compact JSON;
    ``ValueError`` for a negative limit or a body over the device's 512 bytes."""
    if limit_w < 0:
        raise ValueError(f"refusing a negative limit {limit_w} W")
    key = "outputLimit" if ac_mode == AC_MODE_OUTPUT else "inputLimit"
    props = {"acMode": ac_mode, key: limit_w, "smartMode": 1}
    data = json.dumps({"sn": serial, "properties": props}, separators=(",", ":")).encode()
    if len(data) > MAX_BODY_BYTES:
        raise ValueError(f"write body is {len(data)} bytes, over the device's {MAX_BODY_BYTES}")
    return data


class ZendureConfig(DriverConfig):
    """``driver = "zendure-http"``: one SolarFlow on the local network (local API enabled)."""

    #: The vendor recommends >= 10 s between limit writes.
    pacing_defaults: ClassVar[dict[str, float | None]] = {"min_write_interval_s": 10.0, "deadband_w": 25.0}
    driver: Literal["zendure-http"] = "zendure-http"
    port: int = Field(80, ge=1, le=65535)
    serial: str = Field(min_length=1, description="Device serial number (sn), required in every write")
    model: ZendureModel = Field("solarflow-800", description="SolarFlow model (sets the power limits)")
    soc_scale: Literal[1, 10] = Field(
        1, description="Raw units of minSoc/socSet per percent: 1 as documented, 10 where the firmware uses tenths"
    )
    mode_change_interval_s: float = Field(30.0, ge=0, le=3600, description="No two acMode changes closer than this, s")


class ZendureDriver(PacedDriver):
    """Telemetry and limit control of one Zendure SolarFlow."""

    config: ZendureConfig

    def __init__(self, config: ZendureConfig, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(config.pacing, clock)
        self.config = config
        self.clock = clock
        self.max_output_w, self.max_input_w = MODEL_LIMITS_W[config.model]
        self._http = httpx.AsyncClient(
            base_url=f"http://{config.host}:{config.port}",
            timeout=config.timeout_s,
            transport=httpx.AsyncHTTPTransport(retries=config.retries),
        )
        self.ac_mode: int | None = None  # as last written or reported
        self.mode_changed_s = -1e9

    def clamp_w(self, setpoint_w: float) -> float:
        """Within the model's output and AC input limits, whole watts."""
        return clamp_setpoint_w(setpoint_w, self.max_output_w, self.max_input_w)

    def body(self, ac_mode: int, limit_w: int) -> bytes:
        """The write request body for this device."""
        try:
            return write_body(self.config.serial, ac_mode, limit_w)
        except ValueError as err:
            raise DriverError(f"{self.config.id}: {err}") from None

    async def _post(self, data: bytes) -> None:
        headers = {"Content-Type": "application/json"}
        await http_call(self._http, self.config.id, "POST", "/properties/write", content=data, headers=headers)

    async def _send(self, setpoint_w: float) -> float | None:
        wanted = AC_MODE_OUTPUT if setpoint_w > 0 else AC_MODE_INPUT if setpoint_w < 0 else (self.ac_mode or AC_MODE_OUTPUT)
        now = self.clock()
        if self.ac_mode is not None and wanted != self.ac_mode:
            if now - self.mode_changed_s < self.config.mode_change_interval_s:
                if self.pacer.sent_w == 0.0:
                    return None  # already held at 0 W: wait for the mode interval
                await self._post(self.body(self.ac_mode, 0))  # hold at 0 W until the mode may change
                return 0.0
        await self._post(self.body(wanted, int(abs(setpoint_w))))
        if wanted != self.ac_mode:
            self.mode_changed_s = now
            self.ac_mode = wanted
        return setpoint_w

    async def report(self) -> dict[str, Any]:
        """The raw ``/properties/report`` object."""
        data = json_object(await http_call(self._http, self.config.id, "GET", "/properties/report"), self.config.id, "report")
        if not isinstance(data.get("properties"), dict):
            raise DriverError(f"{self.config.id}: /properties/report has no properties object")
        return data

    async def read(self) -> DeviceTelemetry:
        """Battery power (discharge - charge), average and per-pack SOC, minSoc, the limit in force, error flags."""
        await self.flush()
        data = await self.report()
        props = data["properties"]
        try:
            power = float(props["packInputPower"]) - float(props["outputPackPower"])
            soc = float(props["electricLevel"])
            packs = tuple(float(p["socLevel"]) for p in data.get("packData") or [])
            mode = int(props["acMode"])
            limit = float(props["outputLimit"]) if mode == AC_MODE_OUTPUT else -float(props["inputLimit"])
            reserve = float(props["minSoc"]) / self.config.soc_scale if "minSoc" in props else None
            fault_code = int(props.get("is_error", 0)) or int(props.get("faultLevel", 0))
        except (KeyError, TypeError, ValueError) as err:
            raise DriverError(f"{self.config.id}: /properties/report lacks {err}") from None
        if self.ac_mode is None:
            self.ac_mode = mode
        return DeviceTelemetry(
            time_s=time.monotonic(),
            battery_power_w=power,
            soc_pct=soc,
            pack_soc_pct=packs,
            weakest_soc_pct=min(packs) if packs else soc,
            max_discharge_w=self.max_output_w,
            max_charge_w=self.max_input_w,
            reserve_pct=reserve,
            setpoint_w=limit + 0.0,
            state=battery_state(power),
            online=True,
            fault=f"device error (is_error/faultLevel {fault_code})" if fault_code else None,
        )

    async def close(self) -> None:
        """Set the limit to 0 W in the current mode (best effort), then close the HTTP client."""
        try:
            if self.ac_mode is not None:
                await self._post(self.body(self.ac_mode, 0))
        except DriverError:
            pass
        finally:
            await self._http.aclose()
