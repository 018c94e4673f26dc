"""How far two checkouts' simulator records differ, column by column: prints figures (not a test).

Run: OPENBLAS_NUM_THREADS=1 python benchmarks/compare_records.py ab /work/main/src src
     python benchmarks/compare_records.py run SRC OUT_DIR [SCENARIO ...]   (records of one checkout, .npz per scenario)
     python benchmarks/compare_records.py compare DIR_A DIR_B              (two such folders)

A scenario is ``bench:HOURS`` (``bench_sim``'s device: main unit + 5 packs, PV, load, an outage; 1 s steps) or a
TOML path, optionally ``@HOURS`` to change its horizon (e.g. ``examples/spec_example.toml@8760``, a year). A home
scenario is ``home:`` before either: ``home:bench:HOURS`` (``bench_home``'s home of 3 devices x 4 packs),
``home:compare-STRATEGY:HOURS`` (the home of ``bench_home``'s strategy table) or ``home:PATH[@HOURS]`` (e.g.
``home:examples/home_staging.toml``). Each runs in a fresh process with that checkout's ``src`` first on the import
path; the records are the compiled loop's (``engine.run_loop``: pack, device and statistics rows), or a home's tables
(home, devices, packs, device flows: their numeric columns) and the numbers of its summary.
For every column the maximum relative deviation is
``|a - b| / max(|a|, |b|, floor)`` over all rows (and packs), with an absolute floor (``--floor``, default 1e-3
in the column's own unit: 1 mWh per record row, 1 mW, 0.001 % SOC, 1 ms): values nearer zero than that compare
absolutely, so the residue of a cancellation (curtailed PV, a few 1e-5 Wh left of terms of thousands of W, its
rounding ~1e-13 Wh) does not count as a large relative change; the largest absolute deviation is printed as well.
NaN equals NaN (a statistic never reached in both); NaN against a number, and any change of an integer code (the
EMS's reason), is counted as a flipped decision and listed, as is a zero whose sign changed (``-0.0`` for ``0.0``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_SCENARIOS = (
    "bench:720",
    "bench:8760",
    "examples/spec_example.toml@8760",
    "examples/reserve.toml",
    "examples/ac_charging_new.toml",
    "examples/ac_charging_old.toml",
)
FLOOR = 1e-3  # default absolute floor of the relative deviation, in each column's unit
CODE_COLUMNS = ("reason_code",)


def _home_spec(scenario: str):
    """The validated home scenario that ``scenario`` (without its ``home:``) names (see the module's docstring)."""
    from socbal.home.scenario import home_scenario_from_dict

    kind, _, rest = scenario.partition(":")
    if kind == "bench" or kind.startswith("compare-"):
        sys.path.insert(0, str(HERE))
        from bench_home import compare_raw, home_raw

        hours = float(rest)
        return home_scenario_from_dict(home_raw(hours) if kind == "bench" else compare_raw(hours, kind[len("compare-") :]))
    path, _, hours = scenario.partition("@")
    raw = tomllib.loads(Path(path).read_text())
    if hours:
        raw.setdefault("run", {})["horizon_h"] = float(hours)
    return home_scenario_from_dict(raw, source=path, base_dir=Path(path).resolve().parent)


def _numbers(summary, prefix: str = "") -> dict[str, float]:
    """Every number of a summary (nested dicts and lists), by its path."""
    if isinstance(summary, dict):
        return {k: v for key, value in summary.items() for k, v in _numbers(value, f"{prefix}{key}.").items()}
    if isinstance(summary, list):
        return {k: v for i, value in enumerate(summary) for k, v in _numbers(value, f"{prefix}{i}.").items()}
    if isinstance(summary, (int, float)) and not isinstance(summary, bool):
        return {prefix.rstrip("."): float(summary)}
    return {}


def _home_parts(scenario: str) -> dict[str, tuple[np.ndarray, list[str]]]:
    """A home run's tables (numeric columns) and summary numbers, as ``{part: (array [row, column], columns)}``."""
    from socbal.home.engine import simulate_home

    result = simulate_home(_home_spec(scenario))
    parts = {}
    for name in ("home", "devices", "packs", "device_flows"):
        table = getattr(result, name).select_dtypes("number")
        parts[name] = (table.to_numpy(dtype=np.float64), list(table.columns))
    numbers = _numbers(result.summary)
    parts["summary"] = (np.array([list(numbers.values())]), list(numbers))
    return parts


def _spec(scenario: str):
    """The validated scenario that ``scenario`` names (see the module's docstring)."""
    if scenario.startswith("bench:"):
        sys.path.insert(0, str(HERE))
        from bench_sim import scenario as bench_scenario

        return bench_scenario(float(scenario.split(":", 1)[1]))
    from socbal.api import load_scenario

    path, _, hours = scenario.partition("@")
    raw = tomllib.loads(Path(path).read_text())
    if hours:
        raw.setdefault("run", {})["horizon_h"] = float(hours)
    return load_scenario(raw, base_dir=Path(path).resolve().parent)


def _file_name(scenario: str) -> str:
    return scenario.replace("/", "_").replace(":", "_").replace("@", "_") + ".npz"


def child(out_dir: str, scenarios: list[str]) -> None:
    """Run each scenario's loop in this process and write its records to ``out_dir``."""
    from socbal.sim import engine
    from socbal.sim.columns import DEVICE_COLUMNS, PACK_COLUMNS, STATS_COLUMNS

    for scenario in scenarios:
        if scenario.startswith("home:"):
            parts = _home_parts(scenario[len("home:") :])
            arrays = {name: array for name, (array, _) in parts.items()}
            names = {name: columns for name, (_, columns) in parts.items()}
            np.savez(Path(out_dir) / _file_name(scenario), **arrays, names=json.dumps(names))
            continue
        inputs = engine.kernel_inputs(_spec(scenario))
        records = engine.run_loop(inputs)
        np.savez(
            Path(out_dir) / _file_name(scenario),
            pack=records.pack,
            device=records.device,
            stats=records.stats,
            names=json.dumps({"pack": list(PACK_COLUMNS), "device": list(DEVICE_COLUMNS), "stats": list(STATS_COLUMNS)}),
        )


def run(src: str, out_dir: str, scenarios: list[str]) -> None:
    """The records of the checkout whose sources are ``src``, one ``.npz`` per scenario in ``out_dir``."""
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": os.path.abspath(src), "OPENBLAS_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, __file__, "--child", out_dir, *scenarios], env=env, capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"{src}: {out.stderr[-3000:]}")


def column_deviations(a: np.ndarray, b: np.ndarray, names: list[str], floor: float) -> dict[str, tuple[float, float, int]]:
    """``{column: (max relative deviation, max absolute deviation, flips)}`` of two records of one shape
    (``[..., column]``); see the module's docstring for the floor and the flips."""
    result = {}
    for j, name in enumerate(names):
        x, y = a[..., j].ravel(), b[..., j].ravel()
        both_nan = np.isnan(x) & np.isnan(y)
        one_nan = np.isnan(x) ^ np.isnan(y)
        ok = ~(both_nan | one_nan)
        diff = np.abs(x[ok] - y[ok])
        scale = np.maximum(np.maximum(np.abs(x[ok]), np.abs(y[ok])), floor)
        sign_flips = int(((x == 0.0) & (y == 0.0) & (np.signbit(x) != np.signbit(y))).sum())
        flips = int(one_nan.sum()) + sign_flips + (int((diff > 0).sum()) if name in CODE_COLUMNS else 0)
        result[name] = (float((diff / scale).max(initial=0.0)), float(diff.max(initial=0.0)), flips)
    return result


def compare(dir_a: str, dir_b: str, floor: float = FLOOR) -> float:
    """Print every column's deviations between the records in two folders; returns the largest relative one."""
    worst = 0.0
    for path_a in sorted(Path(dir_a).glob("*.npz")):
        a, b = np.load(path_a), np.load(Path(dir_b) / path_a.name)
        names = json.loads(str(a["names"]))
        print(f"{path_a.stem}: " + ", ".join(f"{part} {a[part].shape}" for part in names))
        for part in names:
            if a[part].shape != b[part].shape:
                raise SystemExit(f"{path_a.stem} {part}: shapes differ, {a[part].shape} and {b[part].shape}")
            for name, (rel, abs_, flips) in column_deviations(a[part], b[part], names[part], floor).items():
                worst = max(worst, rel)
                if rel > 0.0 or flips:
                    flip_note = f", {flips} flipped" if flips else ""
                    print(f"  {part}.{name}: max rel {rel:.2e}, max abs {abs_:.2e}{flip_note}")
        print(f"  (columns not listed: identical; {sum(a[p].size for p in names)} numbers)")
    print(f"largest relative deviation (absolute floor {floor:g} in each column's unit): {worst:.2e}")
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--floor", type=float, default=FLOOR, help="absolute floor of the relative deviation")
    sub = parser.add_subparsers(dest="command")
    ab = sub.add_parser("ab", help="run both checkouts and compare")
    ab.add_argument("base")
    ab.add_argument("branch")
    ab.add_argument("scenarios", nargs="*", default=list(DEFAULT_SCENARIOS))
    one = sub.add_parser("run", help="the records of one checkout")
    one.add_argument("src")
    one.add_argument("out_dir")
    one.add_argument("scenarios", nargs="*", default=list(DEFAULT_SCENARIOS))
    two = sub.add_parser("compare", help="compare two folders of records")
    two.add_argument("dir_a")
    two.add_argument("dir_b")
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1:])
    elif args.command == "run":
        run(args.src, args.out_dir, args.scenarios)
    elif args.command == "compare":
        compare(args.dir_a, args.dir_b, args.floor)
    elif args.command == "ab":
        with tempfile.TemporaryDirectory() as tmp:
            run(args.base, f"{tmp}/base", args.scenarios)
            run(args.branch, f"{tmp}/branch", args.scenarios)
            compare(f"{tmp}/base", f"{tmp}/branch", args.floor)
    else:
        parser.print_help()


if __name__ == "__main__":
    main()
