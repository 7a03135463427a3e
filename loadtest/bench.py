"""make bench: the same Locust store day against each write mode, side by side, on this
machine's MariaDB and RabbitMQ; writes results/bench.json, BENCHMARKS.md and PNG plots.

    python -m loadtest.bench [--quick] [--stores N] [--per-hour N] [--admin-rows N]
                             [--parts modes,latency,keys,sweep,queries,admin]

modes: ceiling (the web answers 201 without validating or publishing), durable (queue mode,
persistent messages and confirms: the default), transient (TIGLE_DURABLE=0), sync (written
inside the request); the durable run also samples the queue depth. sweep: durable mode at
32 to 1,024 stores. latency: durable mode under arrivals spread evenly in time (open loop,
loadtest/fixed_rate.py) at half the durable end-to-end rate just measured; once at ordinary
priority, once with the web at real-time priority. keys: the durable day and the fixed rate
(at half that day's rate) with an Idempotency-Key on every purchase, kept where the
environment says (the database's table without REDIS_URL, as deployed). queries: top-N latency over gRPC and REST
while the durable day runs, analytics holding 100,000 items x 1,024 stores; once at ordinary
priority, once with analytics and the query client at real-time priority. admin: the staff's
purchase list, its filters and a search by purchase ID on 10 million purchases
(loadtest/bench_admin.py), p95 against 300 ms.
Each run gets a fresh database and vhost.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from loadtest import bench_plots, bench_report
from loadtest.bench_admin import admin_bench
from loadtest.bench_figures import depth_summary
from loadtest.bench_modes import MODES, READ_WEB_THREADS, RESULTS, mode_run
from loadtest.bench_probes import QUERY_ITEMS, QUERY_STORES, machine
from loadtest.stack import ROOT, realtime_allowed

# Plots BENCHMARKS.md shows: committed, unlike results/.
PLOTS = ROOT / "loadtest" / "plots"
STORE_COUNTS = (32, 64, 128, 256, 512, 1024)
QUERY_RATE = 50  # queries/s of each kind
ALL_PARTS = "modes,latency,keys,sweep,queries,admin"


def write_outputs(bench: dict, full: bool) -> Path:
    """results/bench.json, the plots, and BENCHMARKS.md (its history section kept).

    Only a full run replaces the committed BENCHMARKS.md and plots; a quick or partial run
    writes its own into results/.
    """
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench.json").write_text(json.dumps(bench, indent=2) + "\n")
    plots_dir = PLOTS if full else RESULTS / "bench"
    plots_dir.mkdir(parents=True, exist_ok=True)
    plots = {}
    for key, draw in (("sweep", bench_plots.sweep_plot), ("queries", bench_plots.queries_plot)):
        if bench.get(key):
            path = plots_dir / f"{key}.png"
            draw(bench[key], path)
            plots[key] = os.path.relpath(path, ROOT)
    if bench.get("depth"):
        path = plots_dir / "depth.png"
        bench_plots.depth_plot(bench["depth"]["samples"], path)
        plots["depth"] = os.path.relpath(path, ROOT)
    committed = ROOT / "BENCHMARKS.md"
    history = bench_report.history_kept(committed.read_text() if committed.exists() else "")
    target = committed if full else RESULTS / "BENCHMARKS.md"
    if not full:  # links relative to results/
        plots = {key: os.path.relpath(ROOT / path, RESULTS) for key, path in plots.items()}
    target.write_text(bench_report.markdown(bench, history, plots))
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="every part, small: a few minutes")
    parser.add_argument("--stores", type=int, help="stores for the modes (default 256, quick 32)")
    parser.add_argument("--per-hour", type=int,
                        help="purchases per store per hour for the modes (default 30, quick 20)")
    parser.add_argument("--modes", default=",".join(m.name for m in MODES))
    parser.add_argument("--parts", default=ALL_PARTS)
    parser.add_argument("--admin-rows", type=int,
                        help="purchases for the admin part (default 10,000,000, quick 1,000,000)")
    args = parser.parse_args(argv)
    stores = args.stores or (32 if args.quick else 256)
    per_hour = args.per_hour or (20 if args.quick else 30)
    parts = set(args.parts.split(","))
    durable = next(m for m in MODES if m.name == "durable")
    command = "make bench" + (" QUICK=1" if args.quick else "")
    bench: dict = {"machine": machine(), "command": command, "modes": {}}

    def run(label: str, *run_args, **run_kwargs) -> dict:
        print(f"bench: {label} ...", flush=True)
        result = mode_run(*run_args, **run_kwargs)
        print("  " + json.dumps({k: v for k, v in result.items() if k != "depth_samples"}),
              flush=True)
        return result

    modes = [m for m in MODES if m.name in args.modes.split(",")]
    if "modes" in parts:
        for mode in modes:
            result = run(f"{mode.name}, {stores} stores x 9 x {per_hour}", mode, stores,
                         per_hour, sample_depth=mode is durable)
            if "depth_samples" in result:
                bench["depth"] = depth_summary(result.pop("depth_samples"))
            bench["modes"][mode.name] = result
    if "latency" in parts and "durable" in bench["modes"]:
        rate = round(bench["modes"]["durable"]["end_to_end_rps"] / 2)
        seconds = 10 if args.quick else 60
        bench["latency"] = run(f"latency, {rate}/s evenly spaced for {seconds} s", durable,
                               stores, per_hour, name="latency", fixed_rate=(rate, seconds))
        # Then with the web ahead of the broker, worker, analytics and database on the CPU, as
        # when it has hosts of its own (deploy.yml): what a purchase waits for, not its turn.
        if realtime_allowed():
            bench["latency_web_realtime"] = run(
                f"latency, {rate}/s evenly spaced for {seconds} s, the web at real-time "
                "priority", durable, stores, per_hour, name="latency-web-realtime",
                fixed_rate=(rate, seconds), web_realtime=True)
        else:
            print("bench: latency with the web at real-time priority skipped: chrt --rr needs "
                  "root or CAP_SYS_NICE", flush=True)
    if "keys" in parts:
        keyed_day = run(f"durable, an Idempotency-Key on every purchase, {stores} stores x 9 x "
                        f"{per_hour}", durable, stores, per_hour, name="keys", keyed=True)
        rate = round(keyed_day["end_to_end_rps"] / 2)
        seconds = 10 if args.quick else 60
        bench["keys"] = {
            "store": "Redis" if os.environ.get("REDIS_URL") else "the database's table",
            "day": keyed_day,
            "fixed_rate": run(f"an Idempotency-Key on every purchase, {rate}/s evenly spaced "
                              f"for {seconds} s", durable, stores, per_hour, name="keys-latency",
                              fixed_rate=(rate, seconds), keyed=True)}
    if "sweep" in parts:
        counts = STORE_COUNTS[:3] if args.quick else STORE_COUNTS
        sweep_per_hour = 5 if args.quick else 10
        bench["sweep"] = [run(f"sweep, {n} stores x 9 x {sweep_per_hour}", durable, n,
                              sweep_per_hour, name=f"sweep-{n}") for n in counts]
    if "queries" in parts:
        bench["queries"] = {"items": QUERY_ITEMS, "stores": QUERY_STORES, "rate": QUERY_RATE,
                            "read_web_threads": READ_WEB_THREADS}
        # Then the same with analytics (and the query client) ahead of the ingest on the CPU:
        # what a query costs once it does not wait its turn behind two saturated cores.
        for key, realtime in (("normal", False), ("realtime", True)):
            if realtime and not realtime_allowed():
                print("bench: queries at real-time priority skipped: chrt --rr needs root or "
                      "CAP_SYS_NICE", flush=True)
                continue
            result = run(f"queries under ingest, {stores} stores, {QUERY_ITEMS} x "
                         f"{QUERY_STORES}, {key} priority", durable, stores, per_hour,
                         name=f"queries-{key}", query_rate=QUERY_RATE, realtime=realtime)
            bench["queries"][key] = {"latency": result.pop("query_latency"),
                                     "at_rest": result.pop("query_latency_at_rest"),
                                     "ingest": result}
    if "admin" in parts:
        rows = args.admin_rows or (1_000_000 if args.quick else 10_000_000)
        print(f"bench: admin, {rows:,} purchases ...", flush=True)
        bench["admin"] = admin_bench(rows)
        print("  " + json.dumps(bench["admin"]), flush=True)
    full = (not args.quick and parts == set(ALL_PARTS.split(",")) and not args.stores
            and not args.per_hour and not args.admin_rows and len(modes) == len(MODES))
    print(write_outputs(bench, full).read_text())
    queries = bench.get("queries", {})
    runs = [*bench["modes"].values(), *bench.get("sweep", []),
            *(bench[key] for key in ("latency", "latency_web_realtime") if key in bench),
            *(bench["keys"][key] for key in ("day", "fixed_rate") if "keys" in bench),
            *(queries[key]["ingest"] for key in ("normal", "realtime") if key in queries)]
    return 1 if any(r["lost"] or r["duplicates"] for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
