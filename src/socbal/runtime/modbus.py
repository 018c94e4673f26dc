"""Modbus TCP: the register codec (scaling, signedness, word order) and the runtime's device link.

The device exposes holding registers laid out by a :class:`~socbal.runtime.config.RegisterMap`:
device-wide values (PV, load, grid, watchdog timeout) and one block per pack
(SOC, power, limits, online flag, a telemetry counter, the setpoint). A pack's
telemetry is as old as the last change of its counter: a pack whose counter
stops moving has gone silent, and a pack counts as fresh only once its
counter has been seen to move (a frozen pack is never taken for live at start).
"""

from __future__ import annotations

import logging
import math
import time

from pymodbus.client import AsyncModbusTcpClient

from socbal.runtime.config import ModbusConfig, PackConfig, RegisterMap, RegisterSpec
from socbal.runtime.telemetry import DeviceReading, PackReading, Telemetry

log = logging.getLogger("socbal.runtime.modbus")

_RANGES = {"u16": (0, 0xFFFF), "s16": (-0x8000, 0x7FFF), "u32": (0, 0xFFFFFFFF), "s32": (-0x80000000, 0x7FFFFFFF)}


def decode(words: list[int], spec: RegisterSpec, word_order: str = "big") -> float:
    """The engineering value of ``words`` (the spec's 1 or 2 registers)."""
    if spec.width == 2:
        hi, lo = (words[0], words[1]) if word_order == "big" else (words[1], words[0])
        raw = (hi << 16) | lo
        if spec.type == "s32" and raw & 0x80000000:
            raw -= 1 << 32
    else:
        raw = words[0]
        if spec.type == "s16" and raw & 0x8000:
            raw -= 1 << 16
    return raw * spec.scale


def encode(value: float, spec: RegisterSpec, word_order: str = "big") -> list[int]:
    """Registers for ``value``: rounded to the scale, saturated at the type's range (NaN -> 0)."""
    low, high = _RANGES[spec.type]
    raw = 0 if not math.isfinite(value) else int(round(value / spec.scale))
    raw = min(max(raw, low), high)
    if raw < 0:
        raw += 1 << (32 if spec.width == 2 else 16)
    if spec.width == 2:
        hi, lo = (raw >> 16) & 0xFFFF, raw & 0xFFFF
        return [hi, lo] if word_order == "big" else [lo, hi]
    return [raw & 0xFFFF]


def block_span(specs: list[RegisterSpec]) -> int:
    """Registers needed to read all ``specs`` (offsets) in one request from offset 0."""
    return max(s.address + s.width for s in specs)


class ModbusLink:
    """The runtime's Modbus TCP connection: read telemetry, write setpoints and the watchdog timeout.

    Never raises on I/O: a failure closes the connection and is reported in
    ``Telemetry.errors["link"]``; :meth:`read` reconnects with exponential backoff.
    """

    def __init__(
        self, cfg: ModbusConfig, packs: list[PackConfig], reconnect_min_s: float = 0.5, reconnect_max_s: float = 30.0
    ) -> None:
        self.cfg = cfg
        self.map: RegisterMap = cfg.map
        self.packs = packs
        self.reconnect_min_s = reconnect_min_s
        self.reconnect_max_s = reconnect_max_s
        self._client: AsyncModbusTcpClient | None = None
        self._backoff_s = reconnect_min_s
        self._next_try_s = 0.0
        # pack id -> (counter value, monotonic time it last changed; None: not seen to change yet)
        self._counters: dict[str, tuple[float, float | None]] = {}
        self.last_error: str | None = None

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.connected

    async def _ensure_connected(self) -> bool:
        if self.connected:
            return True
        now = time.monotonic()
        if now < self._next_try_s:
            return False
        client = AsyncModbusTcpClient(self.cfg.host, port=self.cfg.port, timeout=self.cfg.timeout_s, retries=0, reconnect_delay=0)
        ok = False
        try:
            ok = await client.connect()
        except Exception as err:  # noqa: BLE001 - any failure is a lost link
            self.last_error = f"link: cannot connect to {self.cfg.host}:{self.cfg.port}: {err}"
        if not ok:
            client.close()
            self.last_error = self.last_error or f"link: cannot connect to {self.cfg.host}:{self.cfg.port}"
            self._next_try_s = now + self._backoff_s
            self._backoff_s = min(self._backoff_s * 2.0, self.reconnect_max_s)
            return False
        self._client = client
        self._backoff_s = self.reconnect_min_s
        self.last_error = None
        return True

    def _drop(self, err: Exception | str) -> None:
        self.last_error = f"link: modbus {self.cfg.host}:{self.cfg.port}: {err}"
        if self._client is not None:
            self._client.close()
        self._client = None
        self._next_try_s = time.monotonic() + self._backoff_s
        self._backoff_s = min(self._backoff_s * 2.0, self.reconnect_max_s)

    async def _read(self, address: int, count: int) -> list[int]:
        assert self._client is not None
        rr = await self._client.read_holding_registers(address, count=count, device_id=self.cfg.device_id)
        if rr.isError():
            raise OSError(f"read of {count} registers at {address} failed: {rr}")
        return list(rr.registers)

    async def read(self) -> Telemetry:
        """One telemetry snapshot (empty with ``errors["link"]`` while the connection is down)."""
        tel = Telemetry(packs={p.id: None for p in self.packs})
        if not await self._ensure_connected():
            tel.errors["link"] = self.last_error or "link: not connected"
            return tel
        m = self.map
        wo = m.word_order
        try:
            dev_specs = [m.device.pv_w, m.device.load_w, m.device.grid_on]
            start = min(s.address for s in dev_specs)
            words = await self._read(start, max(s.address + s.width for s in dev_specs) - start)
            now = time.monotonic()

            def dval(spec: RegisterSpec) -> float:
                return decode(words[spec.address - start : spec.address - start + spec.width], spec, wo)

            tel.device = DeviceReading(
                pv_w=dval(m.device.pv_w), load_w=dval(m.device.load_w), grid_on=dval(m.device.grid_on) != 0, received_s=now
            )
            specs = [spec for _, spec in m.pack]
            span = block_span(specs)
            for i, pack in enumerate(self.packs):
                words_p = await self._read(m.pack_base + i * m.pack_stride, span)
                now = time.monotonic()

                def pval(spec: RegisterSpec) -> float:
                    return decode(words_p[spec.address : spec.address + spec.width], spec, wo)

                counter = pval(m.pack.counter)
                last = self._counters.get(pack.id)
                # a first reading says nothing about freshness: the pack waits for its counter to move
                changed_s = None if last is None else (now if last[0] != counter else last[1])
                self._counters[pack.id] = (counter, changed_s)
                if changed_s is None:
                    tel.errors[pack.id] = "missing: the telemetry counter has not moved since the runtime started"
                    continue
                tel.packs[pack.id] = PackReading(
                    soc_pct=pval(m.pack.soc_pct),
                    power_w=pval(m.pack.power_w),
                    max_discharge_w=pval(m.pack.max_discharge_w),
                    max_charge_w=pval(m.pack.max_charge_w),
                    online=pval(m.pack.online) != 0,
                    received_s=changed_s,
                )
        except Exception as err:  # noqa: BLE001 - any failure is a lost link
            self._drop(err)
            tel.errors["link"] = self.last_error or "link: lost"
        return tel

    async def write(self, setpoints_w: dict[str, float], watchdog_s: int) -> bool:
        """Write the watchdog timeout and every pack's setpoint; False when the link is down."""
        if not self.connected:
            return False
        m = self.map
        assert self._client is not None
        try:
            rr = await self._client.write_registers(
                m.device.watchdog_s.address, encode(watchdog_s, m.device.watchdog_s, m.word_order), device_id=self.cfg.device_id
            )
            if rr.isError():
                raise OSError(f"watchdog write failed: {rr}")
            for i, pack in enumerate(self.packs):
                spec = m.pack.setpoint_w
                rr = await self._client.write_registers(
                    m.pack_address(i, spec),
                    encode(setpoints_w.get(pack.id, 0.0), spec, m.word_order),
                    device_id=self.cfg.device_id,
                )
                if rr.isError():
                    raise OSError(f"setpoint write for {pack.id} failed: {rr}")
        except Exception as err:  # noqa: BLE001
            self._drop(err)
            return False
        return True

    async def close(self) -> None:
        """Close the connection."""
        if self._client is not None:
            self._client.close()
        self._client = None
