"""Home simulation benchmark: prints figures (not a test). Run: python benchmarks/bench_home.py

1. A home of 3 devices x 4 packs (main unit + 3 packs each, DC-DC curves, estimators with sensor errors),
   a synthetic household load and balcony PV on one device, a 2 s meter: --hours at 1 s (default a year),
   recorded every 15 min: CPU time of the run (compile cache warm) and pack-steps/s.
2. One device of 4 packs in the one-device loop, same horizon: pack-steps/s, and the ratio of the two
   per pack-step (what the home layer costs: the meter, the home decision, device latency and ramps).
   The same home with a meter every 60 s, so the home decision runs 30 times less often: what the decision costs
   per reading and its share of case 1 (the two runs' other work differs a little: the devices follow other
   setpoints). Not with --json.
   These cases run interleaved --repeats times, best CPU time each (CPU time, so other work on a shared
   machine counts less than in wall time).
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
    from socbal.home.engine import simulate_home
    from socbal.home.scenario import home_scenario_from_dict

    scenario = home_scenario_from_dict(raw or home_raw(hours, strategy))
    started = time.process_time()
    result = simulate_home(scenario)
    return time.process_time() - started, scenario.run.n_steps * sum(len(d.all_packs) for d in scenario.devices), result


def time_one_device(hours: float):
    from socbal.scenario import scenario_from_dict
    from socbal.sim.engine import simulate

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
    scenario = scenario_from_dict(raw)
    started = time.process_time()
    simulate(scenario)
    return time.process_time() - started, scenario.run.n_steps * 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=8760.0, help="horizon of cases 1 and 2, h")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs of cases 1 and 2 (best of)")
    parser.add_argument("--strategies", action="store_true", help="also print the strategy table (case 3)")
    parser.add_argument("--compare-hours", type=float, default=72.0, help="horizon of the strategy table, h")
    parser.add_argument("--json", action="store_true", help="cases 1 and 2 as one JSON line (benchmarks/ab_loop.py --bench home)")
    args = parser.parse_args()
    time_home(1.0)  # warm-up: compile or load the cache
    time_one_device(1.0)
    home_s = one_s = slow_meter_s = float("inf")
    for _ in range(args.repeats):
        run_s, home_pack_steps, home_result = time_home(args.hours)
        home_s = min(home_s, run_s)
        run_s, one_pack_steps = time_one_device(args.hours)
        one_s = min(one_s, run_s)
        if not args.json:
            run_s, _, _ = time_home(args.hours, raw=home_raw(args.hours, meter_period_s=SLOW_METER_PERIOD_S))
            slow_meter_s = min(slow_meter_s, run_s)
    home_rate = home_pack_steps / home_s
    one_rate = one_pack_steps / one_s
    if args.json:
        ns = {"home": 1e9 / home_rate, "one": 1e9 / one_rate}
        print(json.dumps(dict(ns_per_pack_step=ns, ratio=one_rate / home_rate, digest=digest(home_result))))
        return
    print(
        f"home 3 x 4 packs, {args.hours:g} h at 1 s: {home_s:.1f} s CPU, {home_rate / 1e6:.1f} M pack-steps/s "
        f"(digest {digest(home_result)})"
    )
    print(f"one device, 4 packs, {args.hours:g} h at 1 s: {one_s:.1f} s CPU, {one_rate / 1e6:.1f} M pack-steps/s")
    print(f"home / one-device time per pack-step: {one_rate / home_rate:.2f}")
    steps = args.hours * 3600.0
    readings = steps / METER_PERIOD_S
    per_reading_s = (home_s - slow_meter_s) / (readings - steps / SLOW_METER_PERIOD_S)
    print(
        f"the same home with a {SLOW_METER_PERIOD_S:g} s meter: {home_pack_steps / slow_meter_s / 1e6:.1f} M pack-steps/s, "
        f"{one_rate * slow_meter_s / home_pack_steps:.2f}x the one-device loop per pack-step; the home decision at each "
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
