"""Meters on a local HTTP API: Shelly Pro 3EM (``GET /rpc/EM.GetStatus?id=N`` -> ``total_act_power``) and
HomeWizard P1 (``GET /api/v1/data`` -> ``active_power_w``); both W, + import / - export."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from socbal.meters.base import MeterConfig, PolledHttpMeter


class ShellyConfig(MeterConfig):
    """``kind = "shelly-pro-3em"``."""

    kind: Literal["shelly-pro-3em"] = "shelly-pro-3em"
    host: str = Field(min_length=1)
    port: int = Field(80, ge=1, le=65535)
    em_id: int = Field(0, ge=0, le=9, description="Id of the EM component")


class HomeWizardConfig(MeterConfig):
    """``kind = "homewizard-p1"`` (local API v1 enabled in the app)."""

    kind: Literal["homewizard-p1"] = "homewizard-p1"
    host: str = Field(min_length=1)
    port: int = Field(80, ge=1, le=65535)


class ShellyMeter(PolledHttpMeter):
    """Shelly Pro 3EM, the sum over the three phases."""

    def __init__(self, config: ShellyConfig) -> None:
        super().__init__(config, f"http://{config.host}:{config.port}")
        self.path = f"/rpc/EM.GetStatus?id={config.em_id}"

    def grid_power_w(self, data: object) -> float:
        """``total_act_power``, W."""
        return float(data["total_act_power"])  # type: ignore[index]


class HomeWizardMeter(PolledHttpMeter):
    """HomeWizard Wi-Fi P1 meter."""

    path = "/api/v1/data"

    def __init__(self, config: HomeWizardConfig) -> None:
        super().__init__(config, f"http://{config.host}:{config.port}")

    def grid_power_w(self, data: object) -> float:
        """``active_power_w``, W."""
        return float(data["active_power_w"])  # type: ignore[index]
