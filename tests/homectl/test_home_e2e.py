"""End to end on 127.0.0.1: the live home controller against the emulated home (one Indevolt, one Zendure, one Marstek
and a Shelly meter on one clock, :mod:`socbal.emulators.home`), no protocol mocked.

Times are short so the tests stay fast: quick device dynamics, a 1 s meter, and, where energy must run out, pack
physics sped up (the controller is then told each device's capacity in "wall-clock Wh", capacity / speed, so that its
energy-based handover sees time as the packs do).
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import math
import time
from dataclasses import dataclass
from pathlib import Path

from socbal.emulators.http import serve_app
from socbal.emulators.meters import meter_app
from socbal.homectl.config import HomeRunConfig, home_config_from_dict
from socbal.homectl.controller import HomeController
from tests.emulators.harness import LoopLag, until
from tests.emulators.home_harness import HomeInThread, mixed_home
from tests.homectl.harness import running
from tests.homectl.test_controller import events
from tests.runtime.conftest import LOOPBACK, free_port

DRIVERS = {"indevolt": "indevolt-http", "zendure": "zendure-http", "marstek": "marstek-modbus"}
#: Longest import the tests call a gap, W (as the home results' max_handover_gap_s).
GAP_W = 50.0


def home_config(tmp_path: Path, h: HomeInThread, meter_port: int | None = None, **sections) -> HomeRunConfig:
    """A home config for the emulated home ``h``: every device on its port, quick pacing, the home's meter."""
    devices = []
    for spec in h.home.scenario.devices:
        entry: dict = {"driver": DRIVERS[spec.protocol], "id": spec.id, "host": LOOPBACK, "port": h.port(spec.id)}
        capacity = spec.main.capacity_wh + sum(p.capacity_wh for p in spec.packs)
        # latency: how long after a write the telemetry may disagree with the meter: the device's latency and ramp (a
        # slow starter's start delay is not waited for), and the Zendure's report echoing the old values for 2 s
        latency_s = min(spec.actuator_latency_s, 1.0) + 0.5 + (2.0 if spec.protocol == "zendure" else 0.0)
        entry.update(capacity_wh=capacity / h.home.speed, latency_s=latency_s, timeout_s=1.0)
        limit_w = spec.device.ac_output_limit_w  # the emulated unit's limit, below its model's
        entry.update(reserve_pct=spec.settings.backup_reserve_pct, max_discharge_w=limit_w, max_charge_w=limit_w)
        entry["pacing"] = {"min_write_interval_s": 0.5}
        if spec.protocol == "indevolt":
            entry.update(packs=len(spec.packs))
        elif spec.protocol == "zendure":
            entry.update(serial=spec.serial, model="solarflow-800", mode_change_interval_s=0.0)
        devices.append(entry)
    raw: dict = {
        "name": "e2e",
        "home": {"period_s": 0.5, "hold_s": 5.0, "follow_s": 1.0, **sections.pop("home", {})},
        "meter": {"kind": "shelly-pro-3em", "host": LOOPBACK, "port": meter_port or h.meter_port},
        "devices": devices,
        "store": {"path": str(tmp_path / "home.sqlite")},
        **sections,
    }
    raw["meter"].update(period_s=h.home.scenario.meter.period_s, **raw.pop("meter_over", {}))
    return home_config_from_dict(raw, base_dir=tmp_path)


async def grid_trace(h: HomeInThread, seconds: float, poll_s: float = 0.1) -> list[tuple[float, float]]:
    """(time, true grid power) every ``poll_s`` for ``seconds``."""
    out = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        out.append((time.monotonic(), h.home.grid_w()))
        await asyncio.sleep(poll_s)
    return out


def longest_import_s(trace: list[tuple[float, float]]) -> float:
    """Longest run of grid import above :data:`GAP_W` in a trace, s."""
    longest, start = 0.0, None
    for t, w in trace:
        if w > GAP_W:
            start = t if start is None else start
            longest = max(longest, t - start)
        else:
            start = None
    return longest


def test_load_above_one_device_brings_in_the_second_without_avoidable_import(tmp_path):
    async def scenario():
        with HomeInThread(mixed_home(load_w=1800)) as h:
            ctl = HomeController(home_config(tmp_path, h))
            async with running(ctl):
                await until(lambda: ctl.decisions > 3 and abs(h.home.grid_w()) < 30, timeout_s=30)
                await asyncio.sleep(2.0)  # settling
                trace = await grid_trace(h, 4.0)
                out = {k: d.battery_power_w for k, d in h.home.snapshot().devices.items()}
            assert max(w for _, w in trace) < GAP_W  # settled: no avoidable import
            assert sum(1 for w in out.values() if w > 100) >= 2  # no device alone can give 1800 W
            assert all(w > -5 for w in out.values())  # one direction

    asyncio.run(scenario())


def test_a_device_dropping_out_mid_discharge_is_covered_by_the_others_and_rejoins(tmp_path):
    async def scenario():
        with HomeInThread(mixed_home(load_w=1500)) as h:
            cfg = home_config(tmp_path, h, home={"staging": "always-share"}, fail_safe={"offline_after": 1})
            ctl = HomeController(cfg)
            async with running(ctl):
                await until(lambda: h.home.devices["zendure"].setpoint_w > 100 and abs(h.home.grid_w()) < 30, timeout_s=30)
                zendure, unit = h.home.devices["zendure"], h.home.emulators["zendure"]
                # it reboots now, once: unreachable 15 s, back with its flash values (0 W). 15 s: the three waits
                # below must all end while it is away (8 s were too short at load 9)
                unit.reboot_down_s, unit.booted_s, unit.reboot_every_s = 15.0, -1e9, 1e6
                await until(lambda: unit.reboots == 1, timeout_s=2)
                await until(lambda: not ctl.state()["devices"]["zendure"]["online"], timeout_s=6)  # 2 timed-out tries
                await until(lambda: abs(h.home.grid_w()) < 30, timeout_s=10)  # the others took its share (5 s: short under load)
                covered = await grid_trace(h, 1.5)
                assert max(w for _, w in covered) < GAP_W and zendure.online() is False
                await until(lambda: ctl.state()["devices"]["zendure"]["online"], timeout_s=20)  # the rest of its 15 s
                await until(lambda: zendure.setpoint_w > 100 and abs(h.home.grid_w()) < 30, timeout_s=8)  # rejoined
        assert any(e["pack_id"] == "zendure" and "offline" in e["message"] for e in events(ctl, "fault"))
        assert any(e["pack_id"] == "zendure" for e in events(ctl, "recovered"))

    asyncio.run(scenario())


def test_a_stale_meter_ramps_every_device_to_zero_within_the_timeout(tmp_path):
    async def scenario():
        with HomeInThread(mixed_home(load_w=1500)) as h:
            broken = {"now": False}

            def reading() -> float:
                if broken["now"]:
                    raise RuntimeError("meter switched off by the test")
                return h.home.meter_w()

            stop, ready = asyncio.Event(), asyncio.Event()
            port = free_port()
            task = asyncio.create_task(serve_app(meter_app("shelly-pro-3em", reading), stop, LOOPBACK, port, on_ready=ready.set))
            try:
                await asyncio.wait_for(ready.wait(), 10)
                cfg = home_config(tmp_path, h, port, home={"staging": "always-share"}, meter_over={"stale_after_s": 2.0})
                ctl = HomeController(cfg)
                async with running(ctl):
                    await until(lambda: sum(d.commanded_w > 50 for d in h.home.devices.values()) == 3, timeout_s=30)
                    broken["now"] = True
                    since = time.monotonic()
                    async with LoopLag() as lag:
                        await until(lambda: all(d.commanded_w == 0.0 for d in h.home.devices.values()), timeout_s=6 + 10)
                    took_s = time.monotonic() - since
                    assert ctl.state()["faults"]["meter"].startswith("stale:")
            finally:
                stop.set()
                await asyncio.wait_for(task, 10)
            # stale after 2 s; then one control period and the slowest write interval (0.5 s) at most; 1 s for the
            # to spare; and the time a loaded machine did not let the loop run
            assert took_s <= cfg.meter.stale_after_s + cfg.home.period_s + 0.5 + 1.0 + lag.late_s

    asyncio.run(scenario())


def slow_starter_home() -> dict:
    """A small Marstek (1000 Wh, 40 %) carrying a 700 W load alone, and an Indevolt at 30 % with a 6 s start delay
    (the issue's 60 s at a tenth); with the packs 60 times faster the Marstek needs the Indevolt within ~20 s."""
    raw = copy.deepcopy(mixed_home(load_w=700))
    by_id = {d["id"]: d for d in raw["devices"]}
    raw["devices"] = [by_id["marstek"], by_id["indevolt"]]
    by_id["marstek"]["main"].update(soc_pct=40, capacity_wh=1000)
    by_id["marstek"]["settings"]["backup_reserve_pct"] = 12
    by_id["indevolt"]["main"]["soc_pct"] = 30
    by_id["indevolt"]["actuator_latency_s"] = 6.0
    return raw


def slow_starter_config(tmp_path: Path, h: HomeInThread) -> HomeRunConfig:
    """The controller for :func:`slow_starter_home`: handover 10 s ahead, the slow starter counted at what it delivers
    after 0.5 s, and judged not following only after 15 s short (after its latency and ``follow_s``: longer than its
    6 s start delay, as a slow starter's config must say)."""
    return home_config(
        tmp_path, h, home={"handover_lead_s": 10.0, "hold_s": 2.0, "follow_s": 0.5}, fail_safe={"follow_timeout_s": 15}
    )


@dataclass(frozen=True)
class HandoverSample:
    """The emulated home during a handover, every 0.1 s: true grid and battery power (W), and the decisions so far."""

    time_s: float
    grid_w: float
    marstek_w: float
    marstek_commanded_w: float
    indevolt_w: float
    indevolt_commanded_w: float
    decisions: int
    late_s: float  # how late the controller's loop or the emulated home's had woken by then, s (the later of the two)

    @property
    def run_s(self) -> float:
        """The time the code under test got to run by then (wall time less the loops' lateness), s."""
        return self.time_s - self.late_s


async def trace_handover(h: HomeInThread, ctl: HomeController, max_s: float = 40.0) -> list[HandoverSample]:
    """Under ``ctl``, from the Marstek carrying the load alone until the Indevolt carries it alone (then 2 s more)."""
    marstek, indevolt = h.home.devices["marstek"], h.home.devices["indevolt"]
    # the Marstek alone under control (the Indevolt out of its own mode, commanded 0 W), first in SOC order
    await until(lambda: ctl.decisions > 2 and indevolt.commanded_w == 0.0 and marstek.commanded_w > 650, timeout_s=40)
    await until(lambda: abs(h.home.grid_w()) < 30, timeout_s=10)
    samples: list[HandoverSample] = []
    end, taken = time.monotonic() + max_s, math.inf
    late_s, seen = 0.0, (0.0, h.lag.late_s)
    async with LoopLag() as lag:
        while time.monotonic() < min(end, taken + 2.0):
            m, i = marstek.true_state(), indevolt.true_state()
            now = time.monotonic()
            late_s += max(lag.late_s - seen[0], h.lag.late_s - seen[1])  # the loops may stall at once: not their sum
            seen = (lag.late_s, h.lag.late_s)
            samples.append(
                HandoverSample(
                    now,
                    h.home.grid_w(),
                    m.battery_power_w,
                    m.commanded_w,
                    i.battery_power_w,
                    i.commanded_w,
                    ctl.decisions,
                    late_s,
                )
            )
            if i.battery_power_w > 600 and m.battery_power_w < 50:
                taken = min(taken, now)
            await asyncio.sleep(0.1)
    return samples


def imported_wh(samples: list[HandoverSample]) -> float:
    """Energy imported over the samples while the code under test got to run, Wh: each sample's import until the
    next, less the time a loop was late meanwhile (a stalled controller cannot answer the meter)."""
    return sum(max(a.grid_w, 0.0) * max(b.run_s - a.run_s, 0.0) for a, b in itertools.pairwise(samples)) / 3600.0


def lagged_wh(samples: list[HandoverSample]) -> float:
    """Energy imported while a loop was late, Wh: each sample's import over the lateness until the next (what a stall
    adds again after it: everything the controller does next comes that much later)."""
    return sum(max(a.grid_w, 0.0) * (b.late_s - a.late_s) for a, b in itertools.pairwise(samples)) / 3600.0


def test_a_handover_to_a_slow_starter_leaves_no_gap_longer_than_a_few_meter_periods(tmp_path):
    async def scenario():
        with HomeInThread(slow_starter_home(), speed=60.0) as h:
            ctl = HomeController(slow_starter_config(tmp_path, h))
            async with running(ctl):
                samples = await trace_handover(h, ctl)
        period_s = h.home.scenario.meter.period_s
        assert samples[-1].indevolt_w > 600 and samples[-1].marstek_w < 50, "the Indevolt did not take over within 40 s"
        starting = [(s.run_s, s.grid_w) for s in samples if s.time_s <= next(t.time_s for t in samples if t.indevolt_w > 500)]
        whole = [(s.run_s, s.grid_w) for s in samples]
        print(
            f"handover: longest import above {GAP_W:g} W: {longest_import_s(starting):.1f} s while the Indevolt starts, "
            f"{longest_import_s(whole):.1f} s in all; {imported_wh(samples):.2f} Wh imported"
        )
        print(
            f"the loops late {samples[-1].late_s - samples[0].late_s:.1f} s meanwhile (not counted), "
            f"{lagged_wh(samples):.2f} Wh imported then"
        )
        # Make-before-break: the Marstek keeps covering until the Indevolt delivers (before: the Marstek was released at
        # the Indevolt's first command, 3.5 s of ~480 W import). Measured: none.
        assert longest_import_s(starting) <= period_s
        # The Marstek, with under handover_lead_s (10 s) left at its share, hands the whole share to the Indevolt, which
        # starts while the Marstek (held by make-before-break) still has energy. Measured: no import above 50 W, 0.00 Wh
        # in 5 runs of benchmarks/bench_handover.py (before, when the Marstek kept a small share until it ran empty and
        # the Indevolt's later share was still in its 6 s delay: 2.8-5.9 s at 110-185 W, 0.08-0.27 Wh).
        assert longest_import_s(whole) <= 2 * period_s
        # On a loaded machine the time the loops did not run is not counted (the samples' run_s), and what the import
        # then was is allowed once more after it: a stall delays all the controller does next by its length.
        assert imported_wh(samples) <= 0.05 + lagged_wh(samples)

    asyncio.run(scenario())


def test_no_cross_charging_at_low_pv(tmp_path):
    async def scenario():
        with HomeInThread(mixed_home(load_w=500, zendure_pv_w=300)) as h:
            ctl = HomeController(home_config(tmp_path, h, home={"staging": "always-share"}))
            async with running(ctl):
                await until(lambda: abs(h.home.grid_w()) < 30, timeout_s=30)
                powers = []
                for _ in range(30):
                    powers.append([d.battery_power_w for d in h.home.snapshot().devices.values()])
                    await asyncio.sleep(0.1)
        for row in powers:
            assert not (max(row) > 20 and min(row) < -20), f"one device charges while another discharges: {row}"

    asyncio.run(scenario())


def test_marstek_keepalive_missed_in_the_home_is_detected_and_logged(tmp_path):
    async def scenario():
        with HomeInThread(mixed_home(load_w=1500)) as h:
            h.home.emulators["marstek"].keepalive_timeout_s = 1.5  # shorter than the driver's keep-alive below
            cfg = home_config(tmp_path, h, home={"staging": "always-share"})
            entries = [d.model_copy(update={"pacing": d.pacing.model_copy(update={"keepalive_s": 30.0})}) for d in cfg.devices]
            ctl = HomeController(cfg.model_copy(update={"devices": entries}))
            async with running(ctl):
                await until(lambda: h.home.emulators["marstek"].keepalive_lapses >= 1, timeout_s=30)
                await until(lambda: any("RS485 control lost" in e["message"] for e in events(ctl, "fault")), timeout_s=20)
                await until(lambda: h.home.emulators["marstek"].controlled, timeout_s=20)

    asyncio.run(scenario())


def test_the_mixed_example_controls_the_emulated_example_home(tmp_path):
    from socbal.homectl.config import load_home_config
    from socbal.tomlfile import read_toml
    from tests.runtime.conftest import EXAMPLES

    async def scenario():
        with HomeInThread(read_toml(EXAMPLES / "home_emulated.toml", "home")) as h:
            cfg = load_home_config(EXAMPLES / "run_home_mixed.toml")
            devices = [d.model_copy(update={"port": h.port(d.id)}) for d in cfg.devices]  # the same home on free ports
            meter = cfg.meter.model_copy(update={"port": h.meter_port})
            store = cfg.store.model_copy(update={"path": tmp_path / "home.sqlite"})
            http = cfg.http.model_copy(update={"enabled": False})
            ctl = HomeController(cfg.model_copy(update={"devices": devices, "meter": meter, "store": store, "http": http}))
            async with running(ctl):
                # every staged device commanded (one standing by at 0 W counts: socbal fills one to a good load first)
                await until(
                    lambda: (
                        ctl.decisions >= 2
                        and all(s.sent_w is not None for s in ctl.slots if s.staged_on)
                        and sum(s.sent_w or 0.0 for s in ctl.slots) > 500
                    ),
                    timeout_s=40,
                )
                state = ctl.state()
        assert all(d["online"] for d in state["devices"].values()) and not state["faults"]
        assert sum(d["setpoint_w"] or 0.0 for d in state["devices"].values()) > 500  # its 1500 W load, less the PV

    asyncio.run(scenario())
