"""Home simulation benchmark: prints figures (not a test). Run: python benchmarks/bench_home.py

1. A home of 3 devices x 4 packs (main unit + 3 packs each, DC-DC curves, estimators with sensor errors),
   a synthetic household load and balcony PV on one device, a 2 s meter: --hours at 1 s (default 200 h),
   recorded every 15 min: CPU time of its compiled loop alone (set-up and results not counted; compile cache warm)
   and pack-steps/s, and the CPU time of one whole run.
2. One device of 4 packs in the one-device loop, same horizon, its loop alone: pack-steps/s, and the ratio of the
   two per pack-step (what the home layer costs: the meter, the home decision, device latency and ramps).
   The same home with a meter every 60 s, so the home decision runs 30 times less often: what the decision costs
   per reading and its share of case 1 (the two runs' other work differs a little: the devices follow other
   setpoints). Not with --json.
   These cases run interleaved --repeats times (default 20); each gives its fastest run and its 10th percentile, in
   CPU time. On a shared machine a run falls into a fast or a slow mode (about 1.5x apart on this project's, as other
   work comes and goes on the core): many short runs and their fastest compare, a few long ones do not.
3. --strategies: every home strategy on one demanding home (evening start, a load with appliance peaks above
   one device's rating, a device whose firmware stops at its first empty pack, one that starts 60 s after
   its setpoint) for --compare-hours: one table (README). Totals differ also by the energy left in the packs at the
   end: the table shows the change in stored energy and the net import corrected for it (net import - stored change);
   a second table splits the conversion loss by direction and values the stored change at what it costs to put back.

Each case runs after a short warm-up run in the same process that fills the compile cache, and prints a digest of
its results (every table and the summary): equal digests, identical results.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def device(did: str, soc0: float, pv_w: float = 0.0) -> dict:
    """Main unit + 3 packs, 2400 W, with aged packs and sensor errors."""
    packs = [
        dict(id=f"p{i}", soc_pct=soc0 - 5 * i, soh_pct=96.0 - 4 * i, sensor_offset_w=0.5 * i, sensor_deadband_w=1.0)
        for i in range(1, 4)
    ]
    out = dict(
        id=did,
        actuator_latency_s=2,
        ramp_w_per_s=600,
        min_write_interval_s=4,
        device=dict(ac_output_limit_w=2400, pv_input_limit_w=2000),
        main=dict(id="main", soc_pct=soc0, sensor_offset_w=1.0, sensor_deadband_w=1.0),
        packs=packs,
    )
    if pv_w:
        out["pv"] = dict(kind="synthetic-clear-sky", peak_w=pv_w)
    return out


#: The bench home's meter period, and the slower one that shows what the home decision costs, s.
METER_PERIOD_S = 2.0
SLOW_METER_PERIOD_S = 60.0


def home_raw(hours: float, strategy: str = "socbal", meter_period_s: float = METER_PERIOD_S) -> dict:
    """Case 1's home; ``meter_period_s``: how often the meter reads (each reading runs the home decision), s."""
    return dict(
        run=dict(step_s=1, horizon_h=hours, record_every_s=900),
        home=dict(name="bench-home", strategy=strategy),
        meter=dict(period_s=meter_period_s, latency_s=1, stale_after_s=max(30.0, 2 * meter_period_s + 10)),
        load=dict(kind="synthetic-household", daily_kwh=14),
        devices=[device("unit1", 80, pv_w=1600), device("unit2", 60), device("unit3", 45)],
    )


def compare_raw(hours: float, strategy: str) -> dict:
    """The home of the strategy table."""
    weak = device("unit1", 40, pv_w=1600)
    weak["firmware"] = "stop-at-first-empty"
    weak["packs"][-1]["soc_pct"] = 14.0
    slow = device("unit3", 55)
    slow["actuator_latency_s"] = 60
    slow["packs"] = slow["packs"][:1]
    return dict(
        run=dict(start="2026-06-01T16:00:00", step_s=1, horizon_h=hours, record_every_s=60),
        home=dict(name="compare-home", strategy=strategy),
        meter=dict(period_s=2, latency_s=1),
        load=dict(kind="stochastic", annual_kwh=9000, step_s=60, seed=5, peak_share=0.4),
        devices=[weak, device("unit2", 60), slow],
    )


def charge_split(result) -> tuple[float, float, float]:
    """(conversion loss while charging, while discharging, net import with the stored change valued at what it costs to
    put back at this run's own charging loss rate), kWh. Charging or discharging by the sign of each pack's power in
    each recorded interval (1 min)."""
    packs, h = result.packs, result.summary["home"]
    charging_kwh = packs.loc[packs.power_w < 0, "conversion_loss_wh"].sum() / 1000
    discharging_kwh = packs.loc[packs.power_w > 0, "conversion_loss_wh"].sum() / 1000
    kept = 1.0 - charging_kwh / h["battery_charge_kwh"] if h["battery_charge_kwh"] > 0 else 1.0
    return charging_kwh, discharging_kwh, h["net_import_kwh"] - h["stored_change_kwh"] / kept


def digest(result) -> str:
    """Short hash of a home result: every number of its tables (home, devices, packs, device flows) and its summary."""
    h = hashlib.sha256()
    for table in (result.home, result.devices, result.packs, result.device_flows):
        h.update(np.ascontiguousarray(table.select_dtypes("number").to_numpy(dtype=np.float64)).tobytes())
    h.update(json.dumps(result.summary, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def time_home(hours: float, strategy: str = "socbal", raw: dict | None = None):
    """A whole home run (set-up, loop, results): ``(CPU s, pack-steps, result)``."""
    from socbal.home.engine import simulate_home
    from socbal.home.scenario import home_scenario_from_dict

    scenario = home_scenario_from_dict(raw or home_raw(hours, strategy))
    started = time.process_time()
    result = simulate_home(scenario)
    return time.process_time() - started, scenario.run.n_steps * sum(len(d.all_packs) for d in scenario.devices), result


def timed_loop(prepare: Callable[[Any], tuple], advance: Callable[..., None], inputs: Any) -> tuple[Callable[[], float], int]:
    """``(run, pack-steps)`` of a compiled loop over every step of ``inputs`` (the one-device loop's or the home's):
    ``run()`` takes a fresh ``prepare(inputs)`` (state, scratch, records) and returns the CPU seconds of ``advance``
    over every step alone."""

    def run() -> float:
        state, scratch, records = prepare(inputs)
        started = time.process_time()
        advance(inputs.model, inputs.profiles, inputs.clock, state, scratch, records, 0, inputs.clock.n_steps)
        return time.process_time() - started

    return run, inputs.clock.n_steps * len(inputs.soc_true0_pct)


def home_loop(hours: float, meter_period_s: float = METER_PERIOD_S) -> tuple[Callable[[], float], int]:
    """Case 1's home loop alone: ``(run, pack-steps)``; ``run()`` prepares a fresh state and returns the CPU seconds of
    the compiled loop over every step (set-up and results not counted)."""
    from socbal.home import engine, loop
    from socbal.home.scenario import home_scenario_from_dict

    inputs = engine.home_inputs(home_scenario_from_dict(home_raw(hours, meter_period_s=meter_period_s)))
    return timed_loop(engine.prepare_home, loop.advance_home, inputs)


def one_device_loop(hours: float) -> tuple[Callable[[], float], int]:
    """Case 2's one-device loop alone (unit1 of case 1 on its own, with a 5 kWh/day load): ``(run, pack-steps)``, as
    :func:`home_loop`."""
    from socbal.scenario import scenario_from_dict
    from socbal.sim import engine, kernel

    d = device("unit1", 80, pv_w=1600)
    raw = dict(
        name="bench-one",
        run=dict(step_s=1, horizon_h=hours, record_every_s=900),
        device=d["device"],
        main=d["main"],
        packs=d["packs"],
        load=dict(kind="synthetic-household", daily_kwh=5),
        pv=d["pv"],
    )
    return timed_loop(engine.prepare_loop, kernel.advance, engine.kernel_inputs(scenario_from_dict(raw)))


def low(times_s: list[float]) -> tuple[float, float]:
    """The fastest of ``times_s`` and their 10th percentile (nearest rank), s: on a shared machine, whose runs fall
    into a fast and a slow mode as other work comes and goes, what a run takes undisturbed."""
    ordered = sorted(times_s)
    return ordered[0], ordered[int(0.1 * (len(ordered) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=200.0, help="horizon of cases 1 and 2, h")
    parser.add_argument("--repeats", type=int, default=20, help="interleaved runs of cases 1 and 2 (fastest and 10th percentile)")
    parser.add_argument("--strategies", action="store_true", help="also print the strategy table (case 3)")
    parser.add_argument("--compare-hours", type=float, default=72.0, help="horizon of the strategy table, h")
    parser.add_argument("--json", action="store_true", help="cases 1 and 2 as one JSON line (benchmarks/ab_loop.py --bench home)")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error(f"--repeats: value {args.repeats} is not allowed: at least 1 run of each case")
    if not args.hours >= 0.1:
        parser.error(f"--hours: value {args.hours:g} is not allowed: at least 0.1 h (the 60 s meter needs readings)")
    home_loop(1.0)[0]()  # warm-up: compile or load the cache
    one_device_loop(1.0)[0]()
    home, home_pack_steps = home_loop(args.hours)
    one, one_pack_steps = one_device_loop(args.hours)
    slow_meter, _ = home_loop(args.hours, SLOW_METER_PERIOD_S)
    home_times: list[float] = []
    one_times: list[float] = []
    slow_times: list[float] = []
    for _ in range(args.repeats):
        home_times.append(home())
        one_times.append(one())
        if not args.json:
            slow_times.append(slow_meter())
    (home_s, home_p10_s), (one_s, one_p10_s) = low(home_times), low(one_times)
    per_pack_step = home_pack_steps / one_pack_steps
    ratio, ratio_p10 = home_s / one_s / per_pack_step, home_p10_s / one_p10_s / per_pack_step
    whole_s, _, home_result = time_home(args.hours)  # the records' digest, from a whole run
    if args.json:
        ns = {"home": 1e9 * home_s / home_pack_steps, "one": 1e9 * one_s / one_pack_steps}
        print(json.dumps(dict(ns_per_pack_step=ns, ratio=ratio, ratio_p10=ratio_p10, digest=digest(home_result))))
        return
    print(
        f"home 3 x 4 packs, {args.hours:g} h at 1 s, its loop alone: {home_s:.2f} s CPU (10th percentile {home_p10_s:.2f} s "
        f"of {args.repeats}), {home_pack_steps / home_s / 1e6:.1f} M pack-steps/s; a whole run (set-up, loop, results) "
        f"{whole_s:.2f} s (digest {digest(home_result)})"
    )
    print(
        f"one device, 4 packs, {args.hours:g} h at 1 s, its loop alone: {one_s:.2f} s CPU (10th percentile {one_p10_s:.2f} s), "
        f"{one_pack_steps / one_s / 1e6:.1f} M pack-steps/s"
    )
    print(f"home / one-device loop time per pack-step: {ratio:.3f} (fastest runs), {ratio_p10:.3f} (10th percentiles)")
    slow_meter_s = low(slow_times)[0]
    steps = args.hours * 3600.0
    readings = steps / METER_PERIOD_S
    per_reading_s = (home_s - slow_meter_s) / (readings - steps / SLOW_METER_PERIOD_S)
    print(
        f"the same home with a {SLOW_METER_PERIOD_S:g} s meter: {home_pack_steps / slow_meter_s / 1e6:.1f} M pack-steps/s, "
        f"{slow_meter_s / one_s / per_pack_step:.3f}x the one-device loop per pack-step; the home decision at each "
        f"{METER_PERIOD_S:g} s reading: about {per_reading_s * 1e9:.0f} ns a reading, {readings * per_reading_s / home_s:.0%} "
        "of the home loop"
    )
    if args.strategies:
        print(f"\n| strategy ({args.compare_hours:g} h) | avoidable import kWh | cross-charge kWh | handover gap s | "
              "writes/h (max) | losses kWh | conversion loss kWh | main units kWh | grid import kWh | export kWh | "
              "stored change kWh | net import kWh | net import, storage-corrected kWh | "
              "device SOC spread max / final % |")  # fmt: skip
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        digests = []
        results = []
        for strategy in ("socbal", "equal", "sequential", "power-limit-soc"):
            _, _, r = time_home(args.compare_hours, raw=compare_raw(args.compare_hours, strategy))
            results.append((strategy, r))
            h = r.summary["home"]
            digests.append(f"{strategy} {digest(r)}")
            print(
                f"| {strategy} | {h['avoidable_import_kwh']:.2f} | {h['cross_charge_kwh']:.3f} | {h['max_handover_gap_s']:.0f} | "
                f"{max(h['writes_per_device_per_h'].values()):.0f} | {h['losses_kwh']:.2f} | {h['conversion_loss_kwh']:.2f} | "
                f"{h['main_unit_kwh']:.2f} | {h['grid_import_kwh']:.2f} | {h['export_kwh']:.2f} | "
                f"{h['stored_change_kwh']:+.2f} | {h['net_import_kwh']:.2f} | {h['net_import_storage_corrected_kwh']:.2f} | "
                f"{h['device_soc_spread_max_pct']:.1f} / {h['device_soc_spread_final_pct']:.1f} |"
            )
        print("digests: " + ", ".join(digests))
        print("\n| strategy | conversion loss charging / discharging kWh | net import, stored change at refill cost kWh |")
        print("|---|---|---|")
        for strategy, r in results:
            charging_kwh, discharging_kwh, refill_kwh = charge_split(r)
            print(f"| {strategy} | {charging_kwh:.2f} / {discharging_kwh:.2f} | {refill_kwh:.2f} |")


if __name__ == "__main__":
    main()
