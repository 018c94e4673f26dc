"""Over a real mosquitto broker: the runtime's Home Assistant entities arrive, pass HA's rules, and feed the Energy dashboard.

A test client plays the device (pack and device telemetry with known power) and a second one
reads what Home Assistant would: the retained discovery configs and every value on their state
topics, across a runtime restart.
"""

from __future__ import annotations

import asyncio
import json

import aiomqtt
import pytest

from socbal.runtime.service import Runtime

from .conftest import LOOPBACK, runtime_config, stop_all, wait_until
from .ha_schema import energy_dashboard_problems, sensor_state_problem, validate_discovery

BASE = "test/dev"
PACK_W = {"main": 50_000.0, "p1": -20_000.0}  # the battery as a whole discharges 30 kW
GRID_W = -10_000.0  # exporting


class Watcher:
    """Every message under the discovery prefix and the base topic, in arrival order (a stand-in for Home Assistant)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.latest: dict[str, str] = {}
        self.history: dict[str, list[str]] = {}

    async def run(self, stop: asyncio.Event) -> None:
        async with aiomqtt.Client(LOOPBACK, self.port, identifier="ha") as c:
            await c.subscribe([("homeassistant/#", 1), (f"{BASE}/#", 1)])
            async for m in c.messages:
                text = m.payload.decode() if isinstance(m.payload, bytes) else str(m.payload)
                self.latest[str(m.topic)] = text
                self.history.setdefault(str(m.topic), []).append(text)
                if stop.is_set():
                    return

    def configs(self) -> dict[str, dict]:
        return {t: json.loads(v) for t, v in self.latest.items() if t.startswith("homeassistant/") and v}

    def value(self, unique_id: str) -> str | None:
        config = next((c for c in self.configs().values() if c["unique_id"] == unique_id), None)
        return None if config is None else self.latest.get(config["state_topic"])


async def play_device(port: int, stop: asyncio.Event, silent: set[str]) -> None:
    """Telemetry every 50 ms: each pack at its fixed power (unless silent), the device with its grid power."""
    async with aiomqtt.Client(LOOPBACK, port, identifier="device") as c:
        while not stop.is_set():
            device = {"pv_w": 0.0, "load_w": 0.0, "grid_on": True, "grid_w": GRID_W}
            await c.publish(f"{BASE}/device/telemetry", json.dumps(device))
            for pack, power_w in PACK_W.items():
                if pack not in silent:
                    body = {"soc_pct": 50.0, "power_w": power_w, "max_discharge_w": 1200, "max_charge_w": 1200}
                    await c.publish(f"{BASE}/device/packs/{pack}/telemetry", json.dumps(body))
            await asyncio.sleep(0.05)


def metered(rt: Runtime) -> list[tuple[float, float, bool]]:
    """From now on, at each update of the runtime's energy meter: its time (s), ``battery_out`` after it (kWh) and
    whether it holds a battery power for the next interval."""
    updates: list[tuple[float, float, bool]] = []
    update = rt.energy.update

    def recording(now_s: float, powers_w: dict[str, float | None]) -> None:
        update(now_s, powers_w)
        updates.append((now_s, rt.energy.totals["battery_out"], powers_w.get("battery") is not None))

    rt.energy.update = recording  # type: ignore[method-assign]
    return updates


def test_energy_entities_arrive_validate_count_and_survive_a_restart(tmp_path, broker):
    cfg = runtime_config(tmp_path, link="mqtt", mqtt_port=broker.port, energy_persist_s=0.0, startup_wait_s=0.5)
    watcher = Watcher(broker.port)
    silent: set[str] = set()

    async def run_runtime(checks) -> None:
        stop_rt, stop_dev = asyncio.Event(), asyncio.Event()
        rt = Runtime(cfg)
        tasks = [asyncio.create_task(rt.run(stop_rt)), asyncio.create_task(play_device(broker.port, stop_dev, silent))]
        try:
            await checks(rt)
        finally:
            await stop_all((stop_rt, stop_dev), tasks)

    async def first_run(rt: Runtime) -> None:
        exported = "socbal_test_grid_export_energy"
        read = [f"socbal_test_{name}" for name in ("battery_in_energy", "battery_out_energy", "grid_import_energy")]
        read += ["socbal_test_battery_power", "socbal_test_main_power"]

        def counted() -> bool:  # the export counted, and every state read below arrived (one topic each, in turn)
            return watcher.value(exported) not in (None, "0.000") and all(watcher.value(u) is not None for u in read)

        await wait_until(counted, 10, "grid export counted, every state read below published")
        configs = watcher.configs()
        assert len(configs) == 4 * 2 + 2 + 4 + 2  # per pack 4; battery and grid power; 4 energy totals; 2 settings
        for topic, payload in configs.items():
            config = validate_discovery(topic, payload)
            if topic.split("/")[1] == "sensor" and (state := watcher.latest.get(config["state_topic"])) is not None:
                assert sensor_state_problem(config, state) is None, topic
        for name in ("battery_in", "battery_out", "grid_import", "grid_export"):
            config = next(c for c in configs.values() if c["unique_id"] == f"socbal_test_{name}_energy")
            assert energy_dashboard_problems(config, watcher.value(config["unique_id"])) == [], name
        assert float(watcher.value("socbal_test_battery_power")) == sum(PACK_W.values())
        assert float(watcher.value("socbal_test_main_power")) == PACK_W["main"]
        # the battery's energy out grows at its net power; nothing goes in (p1's charge comes from main). Timed by the
        # meter's own updates: read between two of them (up to a period apart, more on a stalled loop) the total lags.
        updates = metered(rt)
        await wait_until(lambda: len(updates) > 1 and updates[-1][0] - updates[0][0] >= 2.0, 30, "2 s metered")
        del rt.energy.update  # the meter's own method again
        counted_s = sum(b[0] - a[0] for a, b in zip(updates, updates[1:]) if a[2] and b[0] - a[0] <= rt.energy.max_gap_s)
        assert counted_s >= 1.0, updates  # a gap or an unknown power is not counted: most of the 2 s were
        e0, e1 = updates[0][1], updates[-1][1]
        assert (e1 - e0) * 3.6e6 / counted_s == pytest.approx(sum(PACK_W.values()), rel=0.15)
        assert rt.energy.totals["battery_in"] == 0.0 and rt.energy.totals["grid_import"] == 0.0
        # a pack gone silent: unavailable (its SOC), offline and faulty (its binary sensors)
        assert (watcher.value("socbal_test_p1_online"), watcher.value("socbal_test_p1_fault")) == ("ON", "OFF")
        silent.add("p1")
        await wait_until(lambda: watcher.value("socbal_test_p1_fault") == "ON", 5, "p1 fault on")
        assert watcher.value("socbal_test_p1_online") == "OFF" and watcher.latest[f"{BASE}/packs/p1/availability"] == "offline"
        assert watcher.value("socbal_test_main_online") == "ON"

    async def second_run(rt: Runtime) -> None:
        assert rt.energy.totals["battery_out"] >= stopped_at["battery_out"]  # the stored totals are where it starts
        await wait_until(lambda: rt.cycles > 5, 5, "cycles after the restart")

    async def scenario() -> None:
        stop_watch = asyncio.Event()
        watch = asyncio.create_task(watcher.run(stop_watch))
        await asyncio.sleep(0.2)
        try:
            await run_runtime(first_run)
            stopped_at.update(watcher_totals())
            silent.clear()
            await run_runtime(second_run)
            await asyncio.sleep(0.3)
        finally:
            stop_watch.set()
            watch.cancel()
            await asyncio.wait([watch], timeout=5)

    def watcher_totals() -> dict[str, float]:
        return {n: float(watcher.value(f"socbal_test_{n}_energy")) for n in ("battery_out", "grid_export")}

    stopped_at: dict[str, float] = {}
    asyncio.run(scenario())
    for name in ("battery_in", "battery_out", "grid_import", "grid_export"):
        values = [float(v) for v in watcher.history[f"{BASE}/energy/{name}_kwh"]]
        assert values == sorted(values), f"{name} went backwards: {values}"
    assert watcher_totals()["battery_out"] > stopped_at["battery_out"] > 0.0
