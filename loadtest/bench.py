"""make bench: the same Locust store day against each write mode, side by side, on this
machine's MariaDB and RabbitMQ; writes results/bench.json, BENCHMARKS.md and PNG plots.

    python -m loadtest.bench [--quick] [--stores N] [--per-hour N] [--parts modes,sweep,queries]

modes: ceiling (the web answers 201 without validating or publishing), durable (queue mode,
persistent messages and confirms: the default), transient (TIGLE_DURABLE=0), sync (written
inside the request); the durable run also samples the queue depth. sweep: durable mode at
32 to 1,024 stores. queries: top-N latency over gRPC and REST while the durable day runs,
analytics holding 100,000 items x 1,024 stores; once at ordinary priority, once with analytics
and the query client at real-time priority. Each run gets a fresh database and vhost.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from loadtest import bench_report
from loadtest.bench_figures import depth_summary, drain_wait, result_of
from loadtest.bench_probes import (
    AMQP,
    DATABASE,
    MYSQL,
    QUERY_ITEMS,
    QUERY_STORES,
    VHOST,
    DepthSampler,
    calibration_seconds,
    cpu_meter,
    machine,
    query_client_start,
    services_reset,
)
from loadtest.preload import matrix_preload
from tigle_project.stack import (
    ROOT,
    analytics_start,
    realtime_allowed,
    web_start,
    worker_start,
)

RESULTS = ROOT / "results"
# Plots BENCHMARKS.md shows: committed, unlike results/.
PLOTS = ROOT / "loadtest" / "plots"
STORE_COUNTS = (32, 64, 128, 256, 512, 1024)
QUERY_AT_REST_SECONDS = 10
QUERY_RATE = 50  # queries/s of each kind
READ_WEB_THREADS = 4  # one query at a time in the bench; a few for a real reader's bursts


@dataclass(frozen=True)
class Mode:
    name: str
    env: dict[str, str]
    worker: bool
    analytics: bool
    database: bool


MODES = [
    Mode("ceiling", {"TIGLE_BENCH_CEILING": "1"}, worker=False, analytics=False, database=False),
    Mode("durable", {"TIGLE_DURABLE": "1"}, worker=True, analytics=True, database=True),
    Mode("transient", {"TIGLE_DURABLE": "0"}, worker=True, analytics=True, database=True),
    Mode("sync", {"TIGLE_WRITE_MODE": "sync"}, worker=False, analytics=True, database=True),
]


def store_day(base: str, out: Path, stores: int, per_hour: int) -> dict:
    command = [sys.executable, "-m", "locust", "-f", "loadtest/locustfile.py", "--headless",
               "--host", base, "--max-stores", str(stores), "--num-purchases", str(per_hour),
               "--requests-csv", str(out / "requests.csv"), "--report", str(out / "report.json"),
               "--only-summary", "--loglevel", "WARNING"]
    out.mkdir(parents=True, exist_ok=True)
    with (out / "locust.log").open("w") as log:
        subprocess.run(command, cwd=ROOT, check=False, timeout=3600, stdout=log,
                       stderr=subprocess.STDOUT)
    return json.loads((out / "report.json").read_text())


def mode_run(mode: Mode, stores: int, per_hour: int, *, name: str | None = None,
             sample_depth: bool = False, query_rate: float | None = None,
             realtime: bool = False) -> dict:
    """One run: start what it needs, run the day, wait for the drain, count losses.

    query_rate: analytics starts on a full 100,000 x 1,024 matrix and a client measures
    top-N latency at that rate while the day runs. realtime: analytics and that client run at
    real-time priority.
    """
    amqp_url = f"{AMQP}/{VHOST}"
    env = {**os.environ, "DATABASE_URL": f"{MYSQL}/{DATABASE}",
           "CELERY_BROKER_URL": amqp_url, "DJANGO_SECRET_KEY": "bench", **mode.env}
    services_reset(env)
    calibration = calibration_seconds()  # the machine's speed right now: it drifts by 2x
    out = RESULTS / "bench" / (name or f"{mode.name}-{stores}")
    # A checkpoint of an earlier run would describe a stream that no longer exists.
    shutil.rmtree(out, ignore_errors=True)
    processes, address, preloaded = [], None, 0
    sampler = queries = None
    try:
        if mode.worker:
            processes.append(worker_start(env, out / "logs"))
        if mode.analytics:
            if query_rate:
                preloaded = matrix_preload(out / "analytics", stores=QUERY_STORES,
                                           items=QUERY_ITEMS)
            analytics, address = analytics_start(env, out / "logs", state_dir=out / "analytics",
                                                 realtime=realtime)
            processes.append(analytics)
        web_env = {**env, **({"ANALYTICS_ADDRESS": address} if address else {})}
        web, base = web_start(web_env, out / "logs")
        processes.append(web)
        read_web = None
        if query_rate and address:
            # Reads on a web process of their own, as an ELB path rule would send them:
            # the ingest's web keeps its GIL queue to itself.
            reader, read_web = web_start({**web_env, "WEB_THREADS": str(READ_WEB_THREADS)},
                                         out / "logs", name="read-web", realtime=realtime)
            processes.append(reader)
        meter = cpu_meter(processes)
        if sample_depth and address:
            sampler = DepthSampler(amqp_url, address, counted_before=preloaded)
            sampler.start()
        at_rest = None
        if query_rate and address:
            # The same queries with nothing else running first: what the CPU contention adds.
            idle = query_client_start(address, base, query_rate, read_web=read_web,
                                      realtime=realtime)
            time.sleep(QUERY_AT_REST_SECONDS)
            at_rest = json.loads(idle.communicate(timeout=60)[0])
            queries = query_client_start(address, base, query_rate, read_web=read_web,
                                      realtime=realtime)
        meter.start()
        report = store_day(base, out, stores, per_hour)
        ended = time.monotonic()
        query_latency = json.loads(queries.communicate(timeout=60)[0]) if queries else None
        drained = drain_wait(report["successful"], ended, database=mode.database,
                             analytics=address, preloaded=preloaded)
        cpu = meter.stop()
    finally:
        if sampler is not None:
            sampler.stop.set()
            sampler.join(timeout=5)
        if queries is not None and queries.poll() is None:
            queries.kill()
        for process in reversed(processes):
            process.stop()
    result = result_of(mode.name, stores, per_hour, report, drained, cpu, calibration)
    if sampler is not None:
        result["depth_samples"] = sampler.samples
    if query_latency is not None:
        result["query_latency"] = query_latency
        result["query_latency_at_rest"] = at_rest
    return result


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
    for key, draw in (("sweep", bench_report.sweep_plot), ("queries", bench_report.queries_plot)):
        if bench.get(key):
            path = plots_dir / f"{key}.png"
            draw(bench[key], path)
            plots[key] = os.path.relpath(path, ROOT)
    if bench.get("depth"):
        path = plots_dir / "depth.png"
        bench_report.depth_plot(bench["depth"]["samples"], path)
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
    parser.add_argument("--parts", default="modes,sweep,queries")
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
    full = (not args.quick and parts == {"modes", "sweep", "queries"} and not args.stores
            and not args.per_hour and len(modes) == len(MODES))
    print(write_outputs(bench, full).read_text())
    queries = bench.get("queries", {})
    runs = [*bench["modes"].values(), *bench.get("sweep", []),
            *(queries[key]["ingest"] for key in ("normal", "realtime") if key in queries)]
    return 1 if any(r["lost"] or r["duplicates"] for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
