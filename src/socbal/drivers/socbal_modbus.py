"""socbal's own device over its Modbus register map (``socbal emulate``, or hardware speaking that map), as one home device.

The packs are shared and the watchdog written as :mod:`socbal.drivers.socbal_packs` says; this module adds the
transport: :class:`~socbal.runtime.modbus.ModbusLink` over the register map (the watchdog timeout goes into its
register, each pack's setpoint into its block).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

from pydantic import Field

from socbal.drivers.socbal_packs import SocbalPacksConfig, SocbalPacksDriver
from socbal.runtime.config import ModbusConfig as LinkConfig
from socbal.runtime.config import RegisterMap
from socbal.runtime.modbus import ModbusLink


class SocbalModbusConfig(SocbalPacksConfig):
    """``driver = "socbal-modbus"``: a socbal device (packs behind their own DC-DC modules) on Modbus TCP."""

    driver: Literal["socbal-modbus"] = "socbal-modbus"
    port: int = Field(502, ge=1, le=65535)
    unit_id: int = Field(1, ge=0, le=255, description="Modbus unit (device) id")
    map: RegisterMap = Field(default_factory=RegisterMap, description="The register map, as in a one-device runtime config")


class SocbalModbusDriver(SocbalPacksDriver):
    """One socbal device behind :class:`~socbal.runtime.modbus.ModbusLink`, its packs shared by the EMS."""

    config: SocbalModbusConfig

    def __init__(self, config: SocbalModbusConfig, clock: Callable[[], float] = time.monotonic) -> None:
        link = LinkConfig(
            host=config.host, port=config.port, device_id=config.unit_id, timeout_s=config.timeout_s, map=config.map
        )
        super().__init__(config, ModbusLink(link, list(config.packs), reconnect_min_s=0.2, reconnect_max_s=5.0), clock)
