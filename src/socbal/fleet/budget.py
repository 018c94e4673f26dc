"""Is a fleet plausible on this machine? Its memory and rough run time, estimated before it starts.

A fleet keeps every device's draws and whole-run totals in memory (see :mod:`socbal.fleet.kernel`),
so memory grows with the number of devices and packs; the run time grows with the pack-steps
(devices x packs x steps) plus a fixed cost per device. :func:`check_fleet_budget` refuses a fleet
whose estimate does not fit the memory available (one line naming the field, the value, the
estimate and how many devices fit) and warns on standard error when it would run for long.

The figures are measured (``socbal fleet`` on examples/fleet.toml at one step, peak RSS and wall
time on this project's shared 2-core machine): about 2.8 kB per device of 6 packs (100,000 devices:
+220 MB over 20,000), 3 M pack-steps/s per core (docs/performance.md), and about 1 ms of a core
per device for its setup. Estimates are rough; memory is estimated high rather than low.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from socbal.errors import InputError

log = logging.getLogger("socbal.fleet")

#: Memory per pack of every device (draws, whole-run totals, the pack table), bytes; measured ~290, kept high.
BYTES_PER_PACK = 450
#: Memory per device on top of its packs (totals, the device table, the thread pool's objects), bytes; measured ~1700.
BYTES_PER_DEVICE = 2500
#: A Dask run holds the draws and the totals again in the workers and while gathering.
DASK_MEMORY_FACTOR = 2.0
#: Share of the available memory a fleet may plan to use.
MEMORY_SHARE = 0.8
#: Pack-steps a core simulates per second: the loaded machine's figure (docs/performance.md: 5.5-6.8 M/s on two
#: cores at load average 6; 27 M/s per core on a quiet one), so a long fleet is warned about early rather than late.
PACK_STEPS_PER_CORE_S = 3e6
#: Setup time of one device on one core, s.
DEVICE_SETUP_S = 1e-3
#: A fleet estimated to run longer than this gets a warning, s.
LONG_RUN_S = 3600.0


@dataclass(frozen=True)
class FleetBudget:
    """What a fleet needs: ``memory_bytes`` (beyond what the process holds already), ``seconds`` on ``cores``."""

    devices: int
    packs: int
    pack_steps: float
    memory_bytes: float
    seconds: float
    cores: int


def size_and_seed(name: str, size: int | None, spec_size: int, seed: int | None, spec_seed: int) -> tuple[int, int]:
    """A fleet's size (``name``: devices or homes) and seed, the options over the scenario's; refused below 1 / 0,
    naming the ``socbal fleet`` option (``--devices``, ``--homes``, ``--seed``: the scenario's own values are
    checked where it is read)."""
    if size is not None and size < 1:
        raise InputError(f"--{name}: value {size} is not allowed: must be >= 1")
    if seed is not None and seed < 0:
        raise InputError(f"--seed: value {seed} is not allowed: must be >= 0")
    size = spec_size if size is None else size
    seed = spec_seed if seed is None else seed
    return size, seed


def fleet_budget(devices: int, packs: int, n_steps: int, cores: int | None = None, dask: bool = False) -> FleetBudget:
    """The estimate for ``devices`` devices of ``packs`` packs (main unit included) over ``n_steps`` steps."""
    cores = max(1, cores or os.cpu_count() or 1)
    pack_steps = float(devices) * packs * n_steps
    memory = float(devices) * (packs * BYTES_PER_PACK + BYTES_PER_DEVICE) * (DASK_MEMORY_FACTOR if dask else 1.0)
    seconds = (pack_steps / PACK_STEPS_PER_CORE_S + devices * DEVICE_SETUP_S) / cores
    return FleetBudget(devices, packs, pack_steps, memory, seconds, cores)


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def available_memory_bytes() -> float | None:
    """Memory this process may still take, bytes: the smaller of the system's available memory
    (``/proc/meminfo`` MemAvailable) and the room left under a cgroup limit (v2 or v1); None when unknown."""
    candidates: list[float] = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                candidates.append(float(line.split()[1]) * 1024.0)
    except OSError:
        pass
    cgroup = Path("/sys/fs/cgroup")
    v1 = ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes")
    for limit_file, usage_file in (("memory.max", "memory.current"), v1):
        limit, usage = _read_int(cgroup / limit_file), _read_int(cgroup / usage_file)
        if limit is not None and usage is not None and limit < 1 << 60:  # "max" or a huge number: no limit
            candidates.append(float(limit - usage))
    if not candidates:
        try:
            candidates.append(float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")))
        except (ValueError, OSError, AttributeError):
            return None
    return max(0.0, min(candidates))


def _size(n_bytes: float) -> str:
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.3g} {unit}"
    return f"{n_bytes / 1e3:.3g} kB"


def _duration(seconds: float) -> str:
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.3g} days"
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:.3g} h"
    return f"{seconds / 60:.3g} min"


def check_fleet_budget(
    devices: int,
    packs: int,
    n_steps: int,
    field: str = "devices",
    *,
    dask: bool = False,
    available_bytes: float | None = None,
    cores: int | None = None,
) -> FleetBudget:
    """Refuse a fleet that would not fit the memory (:class:`InputError`, one line); warn when it runs long.

    ``field`` names where the device count came from (``--devices``, ``fleet.devices``);
    ``available_bytes`` defaults to :func:`available_memory_bytes` (no memory check when unknown).
    """
    budget = fleet_budget(devices, packs, n_steps, cores, dask)
    room = available_memory_bytes() if available_bytes is None else available_bytes
    if room is not None and budget.memory_bytes > MEMORY_SHARE * room:
        per_device = budget.memory_bytes / devices
        fits = int(MEMORY_SHARE * room / per_device)
        raise InputError(
            f"{field}: value {devices} is not allowed: the fleet needs about {_size(budget.memory_bytes)} of memory "
            f"({_size(per_device)} a device of {packs} packs) and {_size(room)} is available; at most {fits} devices "
            f"fit here: run the fleet in parts (each with its own --seed) or on a machine with more memory"
        )
    if budget.seconds > LONG_RUN_S:
        log.warning(
            "%s: %d devices x %d packs x %d steps = %.3g pack-steps: roughly %s on %d cores "
            "(about %.3g M pack-steps/s a core); results come only at the end, Ctrl-C stops it",
            field, devices, packs, n_steps, budget.pack_steps, _duration(budget.seconds), budget.cores,
            PACK_STEPS_PER_CORE_S / 1e6,
        )  # fmt: skip
    return budget
