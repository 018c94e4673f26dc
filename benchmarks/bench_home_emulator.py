"""The emulated home of ``examples/home_emulated.toml`` (Indevolt, Zendure, Marstek, a Shelly meter) on loopback:
what one step of the whole home costs, and how long a written setpoint takes to show at the meter.

    python benchmarks/bench_home_emulator.py

Prints the median and 99th-percentile wall time of ``EmulatedHome.step`` (three devices; ``serve_home`` steps
every 0.1 s), then serves the home on free ports and, for a Zendure write of 500 W, the time until the Shelly
meter's ``total_act_power`` is 500 W lower (the device's 3 s latency, its 400 W/s ramp, the meter's 1 s period
and 1 s latency, and the 0.1 s tick). Everything stops by itself.
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import time
from pathlib import Path

import httpx

from socbal.emulators.home import EmulatedHome, serve_home
from socbal.home.scenario import home_scenario_from_dict
from socbal.tomlfile import read_toml

HOST = "127.0.0.1"
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "home_emulated.toml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def home_on_free_ports() -> EmulatedHome:
    raw = read_toml(EXAMPLE, "scenario")
    for dev in raw["devices"]:
        dev["port"] = free_port()
    return EmulatedHome(home_scenario_from_dict(raw, source=str(EXAMPLE), base_dir=EXAMPLE.parent))


def step_cost_ms(n: int = 2000) -> tuple[float, float]:
    home = home_on_free_ports()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        home.step(0.1)
        times.append((time.perf_counter() - t0) * 1000.0)
    times.sort()
    return statistics.median(times), times[int(0.99 * n)]


async def command_to_meter_s() -> float:
    home = home_on_free_ports()
    stop, ready = asyncio.Event(), asyncio.Event()
    meter_port = free_port()
    task = asyncio.create_task(serve_home(home, stop, HOST, "shelly-pro-3em", meter_port, on_ready=ready.set))
    await asyncio.wait_for(ready.wait(), 30)
    try:
        async with httpx.AsyncClient(timeout=5) as c:

            async def meter_w() -> float:
                r = await c.get(f"http://{HOST}:{meter_port}/rpc/EM.GetStatus", params={"id": 0})
                return r.json()["total_act_power"]

            # Indevolt and Marstek follow the meter in their own mode: put them under control, in standby
            for t, v in ((47005, [4]), (47015, [0, 0, 5])):
                await c.post(
                    f"http://{HOST}:{home.ports['indevolt']}/rpc/Indevolt.SetData",
                    params={"config": f'{{"f":16,"t":{t},"v":{v}}}'},
                )
                await asyncio.sleep(1.1)
            home.emulators["marstek"].write(42000, 0x55AA)
            home.emulators["marstek"].write(42010, 0)
            await asyncio.sleep(4.0)
            before = await meter_w()
            sn = home.emulators["zendure"].serial
            t0 = time.monotonic()
            await c.post(
                f"http://{HOST}:{home.ports['zendure']}/properties/write",
                json={"sn": sn, "properties": {"acMode": 2, "outputLimit": 500}},
            )
            while await meter_w() > before - 495:
                if time.monotonic() - t0 > 30:
                    raise RuntimeError("the meter did not follow within 30 s")
                await asyncio.sleep(0.05)
            return time.monotonic() - t0
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def main() -> None:
    median_ms, p99_ms = step_cost_ms()
    print(f"EmulatedHome.step, 3 devices: median {median_ms:.2f} ms, p99 {p99_ms:.2f} ms (tick 100 ms)")
    print(f"Zendure write of 500 W -> Shelly meter 500 W lower: {asyncio.run(command_to_meter_s()):.2f} s")


if __name__ == "__main__":
    main()
