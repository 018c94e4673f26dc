"""An emulated home on free loopback ports for tests: in the test's own event loop (:func:`serving_home`) or in a
background thread with its own loop (:class:`HomeInThread`, for tests whose client runs elsewhere, e.g. the live
home controller). Both stop by themselves: on leaving the block, and a thread at the latest after ``max_s``.

    raw = mixed_home(load_w=1500)                       # or read_toml(EXAMPLES / "home_emulated.toml", ...)
    with HomeInThread(raw, meter="shelly-pro-3em") as h:
        h.url("zendure"), h.port("marstek"), h.meter_url  # where to point clients / drivers
        h.home.devices["indevolt"].drop_out(30)          # faults while it runs
        h.home.meter_w(), h.home.snapshot()
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import threading
from collections.abc import AsyncIterator

from socbal.emulators.home import EmulatedHome, serve_home
from socbal.emulators.meters import MeterKind
from socbal.home.scenario import HomeScenario, home_scenario_from_dict
from tests.emulators.harness import LoopLag
from tests.runtime.conftest import LOOPBACK, free_port

TICK_S = 0.05
SN = "EMU0000ZENDURE1"


def _device(dev_id: str, protocol: str, soc_pct: float, max_w: float, **extra) -> dict:
    return {
        "id": dev_id,
        "protocol": protocol,
        "port": free_port(),
        "actuator_latency_s": 0.5,
        "ramp_w_per_s": 2000,
        "settings": {"backup_reserve_pct": 10},
        "device": {"ac_output_limit_w": max_w},
        "main": {"id": "main", "soc_pct": soc_pct, "capacity_wh": 2000, "max_discharge_w": max_w, "max_charge_w": max_w},
        **extra,
    }


def mqtt_device(dev_id: str, broker_port: int, base_topic: str, soc_pct: tuple[float, float], max_w: float, **extra) -> dict:
    """A socbal-mqtt device (socbal's own, two 2000 Wh packs ``main`` and ``p1``) on the broker at ``broker_port``."""
    entry = _device(dev_id, "socbal-mqtt", soc_pct[0], max_w, **extra)
    del entry["port"]
    entry["mqtt"] = {"host": LOOPBACK, "port": broker_port, "base_topic": base_topic, "keepalive_s": 5}
    entry["packs"] = [{"id": "p1", "soc_pct": soc_pct[1], "capacity_wh": 2000, "max_discharge_w": max_w, "max_charge_w": max_w}]
    return entry


def mixed_home(load_w: float = 1500.0, zendure_pv_w: float = 0.0, meter_period_s: float = 1.0) -> dict:
    """A home on free ports: one Indevolt, one Zendure (serial :data:`SN`, with ``zendure_pv_w`` of PV) and one Marstek,
    2000 Wh each, quick dynamics (0.5 s latency, 2000 W/s), a constant load; the meter without latency."""
    return {
        "run": {"step_s": 1, "horizon_h": 1},
        "home": {"name": "mixed"},
        "meter": {"period_s": meter_period_s, "latency_s": 0},
        "load": {"kind": "constant", "power_w": load_w},
        "devices": [
            _device("indevolt", "indevolt", 80, 1200, model="sf2000"),
            _device("zendure", "zendure", 70, 800, serial=SN, pv={"kind": "constant", "power_w": zendure_pv_w}),
            _device("marstek", "marstek", 60, 1500, model="venus-e-v3"),
        ],
    }


def with_free_ports(raw: dict) -> HomeScenario:
    """The home scenario ``raw`` with every device on a free loopback port (a socbal-mqtt one keeps its broker)."""
    raw = copy.deepcopy(raw)
    for dev in raw["devices"]:
        if dev.get("protocol") != "socbal-mqtt":
            dev["port"] = free_port()
    return home_scenario_from_dict(raw)


@contextlib.asynccontextmanager
async def serving_home(
    home: EmulatedHome, meter: MeterKind | None = "shelly-pro-3em", tick_s: float = TICK_S
) -> AsyncIterator[int | None]:
    """Serve ``home`` (and its meter on a free port) while the block runs; yields the meter's port."""
    stop, ready = asyncio.Event(), asyncio.Event()
    meter_port = free_port() if meter is not None else None
    task = asyncio.create_task(serve_home(home, stop, LOOPBACK, meter, meter_port, tick_s=tick_s, on_ready=ready.set))
    waiting = asyncio.create_task(ready.wait())
    try:
        await asyncio.wait([waiting, task], timeout=20, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            await task  # it failed to start: its error
        assert ready.is_set(), "the emulated home did not start within 20 s"
        yield meter_port
    finally:
        waiting.cancel()
        stop.set()
        await asyncio.wait_for(task, 10)


class HomeInThread:
    """``serve_home`` in a background thread (its own event loop), as a context manager; stops after ``max_s``."""

    def __init__(
        self,
        raw: dict | HomeScenario,
        meter: MeterKind | None = "shelly-pro-3em",
        speed: float = 1.0,
        tick_s: float = TICK_S,
        max_s: float = 300.0,
    ) -> None:
        scenario = raw if isinstance(raw, HomeScenario) else with_free_ports(raw)
        self.home = EmulatedHome(scenario, speed=speed)
        self.meter = meter
        self.meter_port = free_port() if meter is not None else None
        self.tick_s = tick_s
        self.max_s = max_s
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="emulated-home", daemon=True)
        self.lag = LoopLag()  # how late the home's own loop woke while it ran (a wall-clock bound adds it)

    def port(self, dev_id: str) -> int:
        """The port device ``dev_id`` listens on."""
        return self.home.ports[dev_id]

    def url(self, dev_id: str) -> str:
        """``http://127.0.0.1:PORT`` of an HTTP device."""
        return f"http://{LOOPBACK}:{self.port(dev_id)}"

    @property
    def meter_url(self) -> str:
        """``http://127.0.0.1:PORT`` of the meter."""
        return f"http://{LOOPBACK}:{self.meter_port}"

    def wait_stopped(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the home to stop (``max_s`` or an error); True once it has."""
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._loop.call_later(self.max_s, self._stop.set)
            async with self.lag:
                await serve_home(
                    self.home, self._stop, LOOPBACK, self.meter, self.meter_port, tick_s=self.tick_s, on_ready=self._ready.set
                )

        try:
            asyncio.run(main())
        except BaseException as err:  # noqa: BLE001 - handed to the test thread
            self._error = err
        finally:
            self._ready.set()

    def __enter__(self) -> "HomeInThread":
        self._thread.start()
        if not self._ready.wait(30) or self._error is not None:
            self.__exit__()
            raise RuntimeError(f"the emulated home did not start: {self._error!r}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(15)
