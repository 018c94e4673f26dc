"""Marstek Venus Modbus TCP driver (Venus E v1/v2, E v3, A, D), through an RS485-to-TCP bridge or Ethernet.

Holding registers, read with function 3 and written with function 6, big-endian,
32-bit values as two registers, high word first. Control: 42000 = 0x55AA
switches RS485 control on (and must be refreshed: the unit drops to standby
after about 90-120 s without it: that is the fallback once socbal is gone),
42010 force mode (0 standby, 1 charge, 2 discharge), 42020 / 42021 charge /
discharge power W. The unit takes one TCP connection at a time, so the driver
keeps exactly one. Register maps come from a community integration and are
unverified on hardware (see ``docs/devices.md``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Literal

from pydantic import Field
from pymodbus import ModbusException
from pymodbus.client import AsyncModbusTcpClient

from socbal.drivers.base import DeviceTelemetry, DriverConfig, DriverError, PacedDriver, battery_state

RS485_CONTROL, FORCE_MODE, CHARGE_POWER, DISCHARGE_POWER = 42000, 42010, 42020, 42021
MAX_CHARGE, MAX_DISCHARGE = 44002, 44003
INVERTER_STATE = 35100
CONTROL_ON, CONTROL_OFF = 0x55AA, 0x55BB
FORCE_STANDBY, FORCE_CHARGE, FORCE_DISCHARGE = 0, 1, 2
INVERTER_STATES = {0: "sleep", 1: "standby", 2: "charge", 3: "discharge", 4: "backup", 5: "ota upgrade", 6: "bypass"}

MarstekModel = Literal["venus-e-v12", "venus-e-v3", "venus-a", "venus-d"]


@dataclass(frozen=True)
class Value:
    """One telemetry value: ``value = raw * scale``; ``kind`` is uint16, int16 or int32 (two registers)."""

    address: int
    kind: Literal["uint16", "int16", "int32"]
    scale: float = 1.0

    @property
    def count(self) -> int:
        """Registers it takes."""
        return 2 if self.kind == "int32" else 1

    @property
    def datatype(self) -> AsyncModbusTcpClient.DATATYPE:
        """pymodbus's data type for :meth:`convert_from_registers` / :meth:`convert_to_registers`."""
        return AsyncModbusTcpClient.DATATYPE[self.kind.upper()]


@dataclass(frozen=True)
class MarstekMap:
    """Where one model keeps its telemetry; the control registers are the same on every model."""

    soc_pct: Value
    battery_power_w: Value
    pack_soc_pct: tuple[Value, ...]
    max_power_w: float


MAPS: dict[str, MarstekMap] = {
    "venus-e-v12": MarstekMap(Value(32104, "uint16"), Value(32102, "int32"), (), 2500.0),
    "venus-e-v3": MarstekMap(Value(34002, "uint16", 0.1), Value(30001, "int16"), (), 2500.0),
    "venus-a": MarstekMap(
        Value(32104, "uint16"), Value(30001, "int16"), tuple(Value(34002 + 100 * k, "uint16", 0.1) for k in range(6)), 1500.0
    ),
    "venus-d": MarstekMap(Value(32104, "uint16"), Value(30001, "int16"), (), 2500.0),
}


class MarstekConfig(DriverConfig):
    """``driver = "marstek-modbus"``: one Venus behind a Modbus TCP bridge."""

    #: A write is a few frames of ~150 ms; the keep-alive stays well inside the 90-120 s standby timeout.
    pacing_defaults: ClassVar[dict[str, float | None]] = {"min_write_interval_s": 2.0, "deadband_w": 25.0, "keepalive_s": 30.0}
    driver: Literal["marstek-modbus"] = "marstek-modbus"
    port: int = Field(502, ge=1, le=65535)
    unit_id: int = Field(1, ge=0, le=247, description="Modbus unit (device) id")
    model: MarstekModel = Field("venus-e-v3", description="Model: selects the register map")
    packs: int = Field(1, ge=1, le=6, description="Battery packs fitted (Venus A reports each one's SOC)")
    on_close: Literal["auto", "standby"] = Field(
        "auto", description="auto: RS485 control off, the unit returns to its own work mode; standby: force mode 0"
    )


def _decode(registers: list[int], value: Value) -> float:
    raw = AsyncModbusTcpClient.convert_from_registers(registers, value.datatype, word_order="big")
    assert isinstance(raw, int)
    return raw * value.scale


class MarstekDriver(PacedDriver):
    """Telemetry and forced charge/discharge of one Marstek Venus over one Modbus TCP connection."""

    config: MarstekConfig

    def __init__(self, config: MarstekConfig, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(config.pacing, clock)
        self.config = config
        self.map = MAPS[config.model]
        self.client: AsyncModbusTcpClient | None = None  # made on first use (it needs the running event loop)
        self.controlling = False  # socbal has switched RS485 control on
        self.control_lost = False  # a write found control off (reported once by the next read)

    async def _connected(self) -> AsyncModbusTcpClient:
        cfg = self.config
        if self.client is None:
            self.client = AsyncModbusTcpClient(cfg.host, port=cfg.port, timeout=cfg.timeout_s, retries=cfg.retries)
        if not self.client.connected and not await self.client.connect():
            raise DriverError(f"{cfg.id}: cannot connect to {cfg.host}:{cfg.port}")
        return self.client

    async def _read(self, address: int, count: int) -> list[int]:
        client = await self._connected()
        try:
            result = await client.read_holding_registers(address, count=count, device_id=self.config.unit_id)
        except ModbusException as err:
            raise DriverError(f"{self.config.id}: reading register {address} failed: {err}") from None
        if result.isError():
            raise DriverError(f"{self.config.id}: register {address} answered exception {getattr(result, 'exception_code', '?')}")
        return list(result.registers)

    async def _write(self, address: int, value: int) -> None:
        client = await self._connected()
        try:
            result = await client.write_register(address, value, device_id=self.config.unit_id)
        except ModbusException as err:
            raise DriverError(f"{self.config.id}: writing register {address} failed: {err}") from None
        if result.isError():
            code = getattr(result, "exception_code", "?")
            raise DriverError(f"{self.config.id}: writing {value} to register {address} answered exception {code}")

    async def _value(self, value: Value) -> float:
        return _decode(await self._read(value.address, value.count), value)

    def clamp_w(self, setpoint_w: float) -> float:
        """Within +-the model's maximum, whole watts."""
        top = self.map.max_power_w
        return float(round(max(-top, min(top, setpoint_w))))

    async def _send(self, setpoint_w: float) -> float:
        """Keep-alive first (control on), then the power, then the force mode. A control found off first is
        reported by the next read (a missed keep-alive is never hidden by the write that restores it)."""
        if self.controlling and (await self._read(RS485_CONTROL, 1))[0] != CONTROL_ON:
            self.control_lost = True
        await self._write(RS485_CONTROL, CONTROL_ON)
        self.controlling = True
        if setpoint_w > 0:
            await self._write(DISCHARGE_POWER, int(setpoint_w))
            await self._write(FORCE_MODE, FORCE_DISCHARGE)
        elif setpoint_w < 0:
            await self._write(CHARGE_POWER, int(-setpoint_w))
            await self._write(FORCE_MODE, FORCE_CHARGE)
        else:
            await self._write(FORCE_MODE, FORCE_STANDBY)
        return setpoint_w

    async def read(self) -> DeviceTelemetry:
        """SOC, battery power, per-pack SOC (Venus A), limits, inverter state and whether RS485 control still holds."""
        await self.flush()
        soc = await self._value(self.map.soc_pct)
        power = await self._value(self.map.battery_power_w)
        packs = tuple([await self._value(v) for v in self.map.pack_soc_pct[: self.config.packs]])
        max_charge, max_discharge = await self._read(MAX_CHARGE, 2)
        state = (await self._read(INVERTER_STATE, 1))[0]
        control = (await self._read(RS485_CONTROL, 1))[0]
        fault = None
        if self.controlling and (control != CONTROL_ON or self.control_lost):
            fault = "RS485 control lost (keep-alive missed): the unit is back in its own mode"
            self.control_lost = control != CONTROL_ON
        elif INVERTER_STATES.get(state) == "ota upgrade":
            fault = "firmware update in progress"
        return DeviceTelemetry(
            time_s=time.monotonic(),
            battery_power_w=float(power),
            soc_pct=soc,
            pack_soc_pct=packs,
            weakest_soc_pct=min(packs) if packs else soc,
            max_discharge_w=float(max_discharge),
            max_charge_w=float(max_charge),
            reserve_pct=None,
            setpoint_w=self.pacer.sent_w if control == CONTROL_ON else None,
            state="standby" if INVERTER_STATES.get(state) in ("sleep", "standby") else battery_state(power),
            online=True,
            fault=fault,
        )

    async def close(self) -> None:
        """Apply ``on_close`` (best effort), then close the one connection."""
        try:
            if self.controlling and self.config.on_close == "auto":
                await self._write(RS485_CONTROL, CONTROL_OFF)
            elif self.controlling:
                await self._write(FORCE_MODE, FORCE_STANDBY)
        except DriverError:
            pass
        finally:
            if self.client is not None:
                self.client.close()
