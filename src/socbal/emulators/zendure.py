"""A Zendure SolarFlow over the zenSDK local HTTP API: ``GET /properties/report``, ``POST /properties/write``.

Behaviour from the documentation and the field reports of issue 15
(``docs/devices.md``): a write body over 512 bytes or without the device's
``sn`` is refused (400); acMode 2 discharges at ``outputLimit``, acMode 1
charges at ``inputLimit``; a negative ``outputLimit`` is accepted and the
device then outputs its maximum; the report echoes the old values for
``stale_echo_s`` after a write; with ``reboot_every_s`` the device reboots,
unreachable for ``reboot_down_s``, and comes back with its flash values (what
was written with ``smartMode = 1`` is lost). ``minSoc`` / ``socSet`` are raw
values, ``soc_scale`` units per percent.
"""

from __future__ import annotations

import json
import time
from collections import deque
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from socbal.drivers.zendure_http import AC_MODE_OUTPUT, MAX_BODY_BYTES, MODEL_LIMITS_W
from socbal.emulators.device import FirmwareDevice
from socbal.emulators.http import add_drop_out, too_soon

WRITABLE = {"acMode", "inputLimit", "outputLimit", "minSoc", "socSet", "smartMode"}


class ZendureEmulator:
    """The SolarFlow's properties and its FastAPI app (``self.app``)."""

    def __init__(
        self,
        device: FirmwareDevice,
        serial: str | None = None,
        model: str = "solarflow-800",
        soc_scale: int = 1,
        stale_echo_s: float = 2.0,
        reboot_every_s: float | None = None,
        reboot_down_s: float = 30.0,
    ) -> None:
        self.device = device
        self.serial = serial or "EMU0000ZENDURE1"
        self.model = model
        self.scale = soc_scale
        self.stale_echo_s = stale_echo_s
        self.reboot_every_s = reboot_every_s
        self.reboot_down_s = reboot_down_s
        self.max_output_w, self.max_input_w = MODEL_LIMITS_W[model]
        reserve = round(device.reserve_pct)
        self.flash: dict[str, int] = {
            "acMode": AC_MODE_OUTPUT,
            "inputLimit": 0,
            "outputLimit": 0,
            "minSoc": reserve * soc_scale,
            "socSet": 100 * soc_scale,
            "smartMode": 0,
        }
        self.props = dict(self.flash)  # in force now
        self.echo = dict(self.flash)  # what the report shows (the old values for stale_echo_s)
        self._echo_queue: deque[tuple[float, dict[str, int]]] = deque()
        self.booted_s = device.clock()
        self.reboots = 0
        self.writes: list[dict[str, Any]] = []
        device.guard = self._guard
        self._apply()
        self.app = self._build_app()

    def _guard(self, target_w: float) -> float:
        snap = self.device.snapshot()
        if target_w > 0 and min(snap.pack_soc_pct) <= self.props["minSoc"] / self.scale:
            return 0.0
        if target_w < 0 and snap.soc_pct >= self.props["socSet"] / self.scale:
            return 0.0
        return target_w

    def _apply(self) -> None:
        p = self.props
        if p["acMode"] == AC_MODE_OUTPUT:
            limit = p["outputLimit"]
            value = self.max_output_w if limit < 0 else min(limit, self.max_output_w)  # negative: high output (field report)
        else:
            value = -min(max(p["inputLimit"], 0), self.max_input_w)
        self.device.set_reserve(p["minSoc"] / self.scale)
        self.device.set_command(value)

    def write(self, body: bytes) -> int:
        """One ``/properties/write``; returns the HTTP status."""
        if len(body) > MAX_BODY_BYTES:
            return 400
        try:
            data = json.loads(body)
        except ValueError:
            return 400
        if not isinstance(data, dict) or data.get("sn") != self.serial:
            return 400
        props = data.get("properties")
        if not isinstance(props, dict) or not props or not set(props) <= WRITABLE:
            return 400
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in props.values()):
            return 400
        rules = {
            "acMode": (1, 2),
            "inputLimit": (0, self.max_input_w),
            "minSoc": (0, 50 * self.scale),
            "socSet": (70 * self.scale, 100 * self.scale),
            "smartMode": (0, 1),
        }
        if any(k in rules and not rules[k][0] <= v <= rules[k][1] for k, v in props.items()):
            return 400
        self.writes.append(props)
        if self.device.faults.ignore_writes:
            return 200
        self.props.update(props)
        if props.get("smartMode", self.props["smartMode"]) == 0:
            self.flash.update(props)
        self.device.writes += 1
        self._echo_queue.append((self.device.clock() + self.stale_echo_s, dict(self.props)))
        self._apply()
        return 200

    def report(self) -> dict[str, Any]:
        """The ``/properties/report`` object."""
        snap = self.device.snapshot()
        battery = snap.battery_power_w
        dev = self.device
        packs = []
        for i, spec in enumerate(dev.packs.specs):
            power = snap.pack_power_w[i]
            current = round(-power / spec.nominal_voltage_v * 10) & 0xFFFF  # int16 two's complement, 0.1 A
            packs.append(
                {
                    "sn": f"{self.serial}-P{i}",
                    "packType": 0,
                    "socLevel": round(snap.pack_soc_pct[i]),
                    "state": 2 if power > 0.5 else 1 if power < -0.5 else 0,
                    "power": round(abs(power)),
                    "maxTemp": 2981,  # 25.0 C in 0.1 K
                    "totalVol": round(spec.nominal_voltage_v),
                    "batcur": current,
                }
            )
        props = {
            **self.echo,
            "packInputPower": round(max(battery, 0.0)),
            "outputPackPower": round(max(-battery, 0.0)),
            "outputHomePower": round(max(battery + snap.pv_w, 0.0)),
            "gridInputPower": round(max(-battery - snap.pv_w, 0.0)),
            "solarInputPower": round(snap.pv_w),
            "electricLevel": round(snap.soc_pct),
            "packNum": len(packs),
            "socLimit": 0,
            "is_error": 0,
        }
        return {
            "timestamp": int(time.time()),
            "messageId": len(self.writes),
            "sn": self.serial,
            "version": 2,
            "product": self.model,
            "properties": props,
            "packData": packs,
        }

    def tick(self) -> None:
        """Move the echo on, and reboot when due."""
        now = self.device.clock()
        while self._echo_queue and self._echo_queue[0][0] <= now:
            self.echo = self._echo_queue.popleft()[1]
        if self.reboot_every_s is not None and now - self.booted_s >= self.reboot_every_s:
            self.booted_s = now + self.reboot_down_s
            self.reboots += 1
            self.device.drop_out(self.reboot_down_s)
            self.props = dict(self.flash)
            self.echo = dict(self.flash)
            self._echo_queue.clear()
            self._apply()

    def _build_app(self) -> FastAPI:
        app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

        @app.get("/properties/report")
        async def properties_report() -> Response:
            return too_soon(self.device) or JSONResponse(self.report())

        @app.post("/properties/write")
        async def properties_write(request: Request) -> Response:
            return too_soon(self.device) or Response(status_code=self.write(await request.body()))

        add_drop_out(app, self.device)
        return app
