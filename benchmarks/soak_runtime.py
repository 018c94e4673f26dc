"""Soak: the live runtime under a settings flood and hostile payloads for a few minutes, on loopback only.

Starts mosquitto on a free 127.0.0.1 port, ``socbal emulate`` (MQTT) in a child
process, an attacker in another child process (a flood of 1 kB settings
messages; every second a nested, a huge-integer, an oversized, a retained and a
random-topic message; unauthenticated and oversized HTTP requests), and the
runtime (``link = "mqtt"``, 0.1 s period, HTTP API on) in this process. Prints
cycles completed, the longest cycle, the share of cycles with both packs online,
RSS at start and end, the state database's size, and what was refused.

    python benchmarks/soak_runtime.py --duration-s 180

Needs mosquitto (``apt-get install -y mosquitto``). Everything stops by itself
after ``--duration-s`` (at most 30 minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiomqtt
import httpx

from socbal.runtime.config import config_from_dict
from socbal.runtime.service import Runtime

HOST = "127.0.0.1"
BASE = "soak/dev"
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "emulate_80_40.toml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {HOST}:{port}")


def rss_mb() -> float:
    """Resident set size of this process, MB (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def attack(port: int, http_port: int, duration_s: float, counts) -> None:
    """The attacker (a child process): floods and hostile payloads until ``duration_s`` has passed."""

    async def main() -> None:
        pad = "x" * 1000
        hostile = [
            (f"{BASE}/settings/set", b"[" * 3000 + b"]" * 3000, False),
            (f"{BASE}/settings/set", b'{"backup_reserve_pct": ' + b"1" * 4301 + b"}", False),
            (f"{BASE}/device/packs/nopack/telemetry", b'{"soc_pct": ' + b"9" * 310 + b"}", False),
            (f"{BASE}/device/setpoints", b"[" * 2000 + b"]" * 2000, False),
            (f"{BASE}/settings/set", b"y" * 1_000_000, False),
            (f"{BASE}/settings/backup_reserve_pct/set", b"40", True),
        ]
        deadline = time.monotonic() + duration_s
        async with aiomqtt.Client(HOST, port, identifier="soak-attacker") as c:
            with httpx.Client(base_url=f"http://{HOST}:{http_port}", timeout=2) as web:
                i = 0
                while time.monotonic() < deadline:
                    for _ in range(200):  # about 200 kB of settings messages per round
                        body = json.dumps({"backup_reserve_pct": 10 + i % 60, "pad": pad})
                        await c.publish(f"{BASE}/settings/set", body, qos=0)
                        i += 1
                    for topic, payload, retain in hostile:
                        await c.publish(topic, payload, qos=0, retain=retain)
                    await c.publish(f"{BASE}/device/packs/rnd{i}/telemetry", b"{}", qos=0)
                    try:
                        web.patch("/settings", content=b"z" * 200_000)  # no token: refused unread
                        web.get("/events", params={"after_id": 10**20})
                    except httpx.HTTPError:
                        counts["http_errors"] += 1
                    counts["mqtt"] = i
                    await asyncio.sleep(0.05)

    asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration-s", type=float, default=180.0, help="attack for this long (10..1800 s)")
    args = parser.parse_args()
    duration_s = min(max(args.duration_s, 10.0), 1800.0)
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(binary).exists():
        sys.exit("mosquitto is not installed (apt-get install -y mosquitto)")
    folder = Path(tempfile.mkdtemp(prefix="socbal-soak-"))
    port = free_port()
    (folder / "mosquitto.conf").write_text(f"listener {port} {HOST}\nallow_anonymous true\npersistence false\n")
    procs = [subprocess.Popen([binary, "-c", str(folder / "mosquitto.conf")], stderr=subprocess.DEVNULL)]
    try:
        wait_for_port(port)
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "socbal", "emulate", str(EXAMPLE), "--modbus-port", "0", "--mqtt-port", str(port)]
                + ["--base-topic", BASE, "--speed", "10", "--tick-s", "0.05", "--duration-s", str(duration_s + 60)],
                stderr=subprocess.DEVNULL,
            )
        )
        os.environ["SOCBAL_SOAK_TOKEN"] = "soak-token-123"
        cfg = config_from_dict(
            {
                "name": "soak",
                "link": "mqtt",
                "runtime": {"period_s": 0.1, "max_telemetry_age_s": 2, "watchdog_s": 2, "state_db": "state.sqlite"},
                "device": {"ac_output_limit_w": 2400, "aux_power_module": True},
                "packs": [
                    {"id": "main", "capacity_wh": 1920, "max_discharge_w": 1200, "max_charge_w": 1200},
                    {"id": "p1", "capacity_wh": 1920, "max_discharge_w": 1200, "max_charge_w": 1200},
                ],
                "mqtt": {"host": HOST, "port": port, "base_topic": BASE, "client_id": "soak-runtime"},
                "http": {"enabled": True, "host": HOST, "port": 0, "token_env": "SOCBAL_SOAK_TOKEN"},
            },
            base_dir=folder,
        )
        print(asyncio.run(soak(cfg, port, duration_s)))
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(folder, ignore_errors=True)


async def soak(cfg, port: int, duration_s: float) -> str:
    rt = Runtime.from_config(cfg)
    stop = asyncio.Event()
    task = asyncio.create_task(rt.run(stop))
    deadline = time.monotonic() + 60
    while not (rt.last_plan is not None and len(rt.last_plan.soc_pct) == 2 and rt.http_port):
        if time.monotonic() > deadline:
            raise TimeoutError("the runtime never saw both packs online")
        await asyncio.sleep(0.1)
    rss_start, cycles_start, rt.max_cycle_s = rss_mb(), rt.cycles, 0.0
    both_online = total = 0
    counts = multiprocessing.Manager().dict(mqtt=0, http_errors=0)
    attacker = multiprocessing.Process(target=attack, args=(port, rt.http_port, duration_s, counts), daemon=True)
    t0 = time.monotonic()
    attacker.start()
    seen_cycle = rt.cycles
    while attacker.is_alive() and time.monotonic() - t0 < duration_s + 30:
        await asyncio.sleep(0.1)
        if rt.cycles != seen_cycle and rt.last_plan is not None:
            seen_cycle = rt.cycles
            total += 1
            both_online += len(rt.last_plan.soc_pct) == 2 and "device" not in rt.last_plan.faults
    attacker.join(5)
    elapsed = time.monotonic() - t0
    cycles, max_cycle_s, rss_end = rt.cycles - cycles_start, rt.max_cycle_s, rss_mb()
    rejects, tasks = rt.mqtt.rejects.total, rt.state()["tasks"]
    stop.set()
    await asyncio.wait_for(task, 30)
    db = sum(p.stat().st_size for p in cfg.runtime.state_db.parent.glob("state.sqlite*"))
    return "\n".join(
        [
            f"soak: {elapsed:.0f} s under attack, period {cfg.runtime.period_s:g} s",
            f"cycles completed: {cycles} ({cycles / elapsed:.1f}/s); longest cycle {max_cycle_s * 1000:.1f} ms",
            f"both packs online, device telemetry good: {both_online}/{total} cycles ({100 * both_online / max(total, 1):.1f} %)",
            f"attacker sent {counts['mqtt']} settings messages plus hostile ones; refused by the runtime {rejects}",
            f"task restarts: {sum(t['restarts'] for t in tasks.values())}",
            f"RSS: {rss_start:.1f} MB at start, {rss_end:.1f} MB at the end",
            f"state database: {db / 1e6:.2f} MB",
        ]
    )


if __name__ == "__main__":
    main()
