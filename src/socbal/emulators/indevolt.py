"""An Indevolt SolidFlex/PowerFlex 2000 over OpenData HTTP: ``/rpc/Indevolt.GetData``, ``/rpc/Indevolt.SetData``,
``/rpc/Sys.GetConfig`` on the points of ``docs/devices.md``, with optional HTTP Digest auth (MD5, qop=auth).

Working mode 1 (self-consumption, the state at start) covers the load from the
battery by itself; mode 4 (real-time control) follows 47015-47017: state, power
and target SOC, stopping at the target. Requests faster than the device's
``min_request_interval_s`` answer 503 (the documentation gives a 1 s minimum but
not the error; 503 is this emulator's choice).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any
from urllib.request import parse_http_list, parse_keqv_list

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from socbal.drivers import indevolt_http as pts
from socbal.drivers.base import battery_state
from socbal.emulators.device import FirmwareDevice
from socbal.emulators.http import add_drop_out, too_soon

PACK_VOLTAGE = (9004, 9020, 9039, 9058, 9153, 9206)
STATE_CODE = {"standby": 1000, "charging": 1001, "discharging": 1002}
REALM = "indevolt"


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - HTTP Digest is MD5 by definition


class IndevoltEmulator:
    """The device's OpenData state and its FastAPI app (``self.app``)."""

    def __init__(
        self, device: FirmwareDevice, model: str = "sf2000", serial: str | None = None, password: str | None = None
    ) -> None:
        self.device = device
        self.serial = serial or "EMU-SF2000-0001"
        self.password = password
        self.max_power_w = pts.MAX_POWER_W[model]
        self.mode = pts.SELF_CONSUMPTION_MODE
        self.command = (pts.STATE_STANDBY, 0, 5)
        self.nonces: set[str] = set()
        self.writes: list[tuple[int, list[Any]]] = []
        device.guard = self._guard
        device.set_command(0.0)
        self.app = self._build_app()

    def _guard(self, target_w: float) -> float:
        if self.mode != pts.REALTIME_MODE:
            return self.device.self_consumption_w()
        soc = self.device.snapshot().soc_pct
        target_soc = self.command[2]
        if (target_w > 0 and soc <= target_soc) or (target_w < 0 and soc >= target_soc):
            return 0.0
        return target_w

    def points(self) -> dict[int, Any]:
        """Every readable point's value now."""
        snap = self.device.snapshot()
        dev = self.device
        values: dict[int, Any] = {
            0: self.serial,
            pts.BATTERY_POWER: round(snap.battery_power_w),
            pts.BATTERY_STATE: STATE_CODE[battery_state(snap.battery_power_w, 0.5)],
            pts.TOTAL_SOC: round(snap.soc_pct, 1),
            pts.BACKUP_SOC: round(dev.reserve_pct),
            pts.WORKING_MODE: self.mode,
            pts.RATED_KWH: round(sum(p.capacity_wh for p in dev.packs.specs) / 1000.0, 2),
            11016: round(snap.grid_w),
            2101: round(max(-snap.battery_power_w - snap.pv_w, 0.0)),
            2108: round(max(snap.battery_power_w + snap.pv_w, 0.0)),
        }
        for i, soc in enumerate(snap.pack_soc_pct[:6]):
            values[pts.PACK_SOC[i]] = round(soc, 1)
            values[PACK_VOLTAGE[i]] = dev.packs.specs[i].nominal_voltage_v
        return values

    def set_point(self, point: int, v: list[Any]) -> bool:
        """One SetData; False where the real device would answer ``{"result": false}``."""
        if not all(isinstance(x, int) for x in v):
            return False
        if point == pts.MODE_SETTING and len(v) == 1 and v[0] in (1, 4, 5):
            self.mode = v[0]
            return True
        if point == 1142 and len(v) == 1 and 5 <= v[0] <= 100:
            self.device.set_reserve(v[0])
            return True
        if point == pts.REALTIME_COMMAND and len(v) == 3 and self.mode == pts.REALTIME_MODE:
            state, power, target = v
            ok_power = power == 0 if state == pts.STATE_STANDBY else pts.MIN_POWER_W <= power <= self.max_power_w
            if state not in (0, 1, 2) or not ok_power or not 5 <= target <= 100:
                return False
            self.command = (state, power, target)
            sign = {pts.STATE_STANDBY: 0, pts.STATE_CHARGE: -1, pts.STATE_DISCHARGE: 1}[state]
            self.device.command(sign * power)
            return True
        return False

    def _authorized(self, request: Request) -> bool:
        if self.password is None:
            return True
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("digest "):
            return False
        f = parse_keqv_list(parse_http_list(header[7:]))
        if f.get("nonce") not in self.nonces or f.get("qop") != "auth":
            return False
        uri = f.get("uri", "")
        if uri != request.url.path + (f"?{request.url.query}" if request.url.query else ""):
            return False
        ha1 = _md5(f"{f.get('username')}:{REALM}:{self.password}")
        ha2 = _md5(f"{request.method}:{uri}")
        expected = _md5(f"{ha1}:{f['nonce']}:{f.get('nc')}:{f.get('cnonce')}:auth:{ha2}")
        return f.get("username") == "opend" and secrets.compare_digest(expected, f.get("response", ""))

    def _challenge(self) -> Response:
        nonce = secrets.token_hex(16)
        self.nonces.add(nonce)
        header = f'Digest realm="{REALM}", nonce="{nonce}", qop="auth", algorithm=MD5'
        return Response(status_code=401, headers={"WWW-Authenticate": header})

    def _build_app(self) -> FastAPI:
        app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

        def config_of(request: Request) -> dict[str, Any] | None:
            try:
                obj = json.loads(request.query_params.get("config", ""))
            except ValueError:
                return None
            return obj if isinstance(obj, dict) else None

        @app.post("/rpc/Indevolt.GetData")
        async def get_data(request: Request) -> Response:
            if not self._authorized(request):
                return self._challenge()
            if busy := too_soon(self.device):
                return busy
            cfg = config_of(request)
            wanted = cfg.get("t") if cfg else None
            if not isinstance(wanted, list) or not all(isinstance(p, int) for p in wanted):
                return Response(status_code=400)
            values = self.points()
            return JSONResponse({str(p): values[p] for p in wanted if p in values})

        @app.post("/rpc/Indevolt.SetData")
        async def set_data(request: Request) -> Response:
            if not self._authorized(request):
                return self._challenge()
            if busy := too_soon(self.device):
                return busy
            cfg = config_of(request)
            if not cfg or cfg.get("f") != 16 or not isinstance(cfg.get("t"), int) or not isinstance(cfg.get("v"), list):
                return Response(status_code=400)
            self.writes.append((cfg["t"], cfg["v"]))
            return JSONResponse({"result": self.set_point(cfg["t"], cfg["v"])})

        @app.get("/rpc/Sys.GetConfig")
        async def get_config(request: Request) -> Response:
            if not self._authorized(request):
                return self._challenge()
            if busy := too_soon(self.device):
                return busy
            return JSONResponse({"device": {"type": "CMS-SF2000", "sn": self.serial, "fw": "emulated", "run_time": 0}})

        add_drop_out(app, self.device)
        return app
