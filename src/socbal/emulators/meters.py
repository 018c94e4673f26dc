"""Smart-meter emulators: a Shelly Pro 3EM (``GET /rpc/EM.GetStatus``) and a HomeWizard P1 (``GET /api/v1/data``)
serving a grid power (W, + import / - export) from a callable: a fixed value, or an emulated device's grid; while it
gives None (an outage) the meter answers HTTP 503."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response

MeterKind = Literal["shelly-pro-3em", "homewizard-p1"]


def meter_app(kind: MeterKind, grid_power_w: Callable[[], float | None]) -> FastAPI:
    """The meter's FastAPI app; each request reads ``grid_power_w()`` anew (None: 503, no reading)."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.requests = 0
    no_reading = JSONResponse({"error": "no reading (meter outage)"}, status_code=503)

    if kind == "shelly-pro-3em":

        @app.get("/rpc/EM.GetStatus")
        async def em_status(id: int = 0) -> Response:
            app.state.requests += 1
            if id != 0:
                return JSONResponse({"code": -105, "message": f"Argument 'id', value {id} not found!"}, status_code=404)
            reading = grid_power_w()
            if reading is None:
                return no_reading
            total = float(reading)
            phase = round(total / 3.0, 1)
            return JSONResponse(
                {
                    "id": 0,
                    "a_act_power": phase,
                    "b_act_power": phase,
                    "c_act_power": round(total - 2 * phase, 1),
                    "a_voltage": 230.0,
                    "b_voltage": 230.0,
                    "c_voltage": 230.0,
                    "total_act_power": round(total, 1),
                    "total_current": round(abs(total) / 230.0, 3),
                }
            )

    else:

        @app.get("/api/v1/data")
        async def data() -> Response:
            app.state.requests += 1
            reading = grid_power_w()
            if reading is None:
                return no_reading
            total = float(reading)
            return JSONResponse({"wifi_strength": 100, "active_power_w": round(total), "active_power_l1_w": round(total)})

    return app
