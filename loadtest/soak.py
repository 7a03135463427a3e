"""make soak (not a test): the durable stack for 30 minutes at 80% of the durable end-to-end
rate, through Locust; every process's memory and CPU time sampled every 10 s
(soak_samples.py). The rate comes from make bench's durable run, made first on this machine
(skipped when --rate is given).

It passes when, after the first 5 minutes, no process grows by more than 5% (its largest
size in the last 5 minutes against its largest in minutes 5-10), nothing that
got a 201 is lost or counted twice, no request failed and the client held 95% of the rate it
asked for; it reports the largest backlogs. Results: results/soak/ (soak.json, the memory
plot) and a summary printed for BENCHMARKS.md.

    python -m loadtest.soak [--minutes 30] [--rate N] [--share 0.8]
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from loadtest.bench_figures import drain_wait, losses
from loadtest.bench_modes import MODES, RESULTS, mode_run
from loadtest.bench_probes import (AMQP, DATABASE, MYSQL, VHOST, DepthSampler,
                                   calibration_seconds, services_reset)
from loadtest.service_admin import mysql_execute
from loadtest.soak_samples import ProcessSampler, growth_after, memory_plot, windows
from loadtest.stack import ROOT, analytics_start, web_start, worker_start
from loadtest.stores import DayParams

# A user per store, as make bench's day has: each sends every USERS / rate seconds, well
# above a slow answer's time, because a user that answers late loses its turn (Locust's
# constant_throughput does not catch up).
USERS = 256
SAMPLE_SECONDS = 10
SETTLE_MINUTES = 5
GROWTH_LIMIT = 0.05
WINDOW_MINUTES = 5
# make bench's durable day (bench.py's defaults), run first to measure the capacity.
CAPACITY_STORES, CAPACITY_PER_HOUR = 256, 30
# The client must hold the rate it asked for, or the run soaked a lighter load than it says.
HELD_SHARE = 0.95
# InnoDB's cache for the run: Debian's MariaDB keeps 128 MB, which half an hour of purchases
# outgrows, and then every insert waits on the disk. A database server is given most of its
# memory (RDS: three quarters); this holds the run's tables with room to spare.
BUFFER_POOL_BYTES = 1 << 30


@contextlib.contextmanager
def buffer_pool(size: int):
    """The machine's MariaDB with an InnoDB buffer pool of size bytes, as it was afterwards."""
    before = mysql_execute(MYSQL, "SELECT @@GLOBAL.innodb_buffer_pool_size")[0][0]
    mysql_execute(MYSQL, f"SET GLOBAL innodb_buffer_pool_size = {int(size)}")
    try:
        yield
    finally:
        mysql_execute(MYSQL, f"SET GLOBAL innodb_buffer_pool_size = {int(before)}")


def durable_rate() -> tuple[float, float]:
    """make bench's durable run, now: (end-to-end purchases/s, the machine's speed check).

    Measured here and now rather than read from results/bench.json: a shared machine's speed
    drifts by 2x between days, and 80% of another day's capacity can be more than all of today's.
    """
    durable = next(mode for mode in MODES if mode.name == "durable")
    print(f"soak: measuring the durable capacity ({CAPACITY_STORES} stores x 9 x "
          f"{CAPACITY_PER_HOUR}, as make bench does) ...", flush=True)
    result = mode_run(durable, CAPACITY_STORES, CAPACITY_PER_HOUR, name="soak-capacity")
    if result["lost"] or result["duplicates"]:
        sys.exit(f"the capacity run lost {result['lost']} and duplicated {result['duplicates']}")
    print(f"soak: durable capacity {result['end_to_end_rps']}/s (speed check "
          f"{result['calibration_s']} s)", flush=True)
    return float(result["end_to_end_rps"]), result["calibration_s"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--rate", type=float,
                        help="purchases/s (default: share x the durable capacity, measured first)")
    parser.add_argument("--share", type=float, default=0.8)
    args = parser.parse_args(argv)
    with buffer_pool(BUFFER_POOL_BYTES):
        return soak(args)


def soak(args: argparse.Namespace) -> int:
    capacity, speed = (None, None) if args.rate else durable_rate()
    rate = round(args.rate or args.share * capacity)
    out = RESULTS / "soak"
    # An earlier run's checkpoint describes a stream services_reset deletes: analytics would
    # rebuild from the database in the middle of this run.
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    amqp_url = f"{AMQP}/{VHOST}"
    env = {**os.environ, "DATABASE_URL": f"{MYSQL}/{DATABASE}", "CELERY_BROKER_URL": amqp_url,
           "DJANGO_SECRET_KEY": "soak",
           # As the playbook does: the counters for the client's whole catalogue from each
           # store's first sale, so analytics does not grow as new items appear.
           "ANALYTICS_ITEMS": str(DayParams(max_stores=USERS).max_item_id)}
    services_reset(env)
    processes = []
    sampler = depth = None
    try:
        processes.append(worker_start(env, out / "logs"))
        analytics, address = analytics_start(env, out / "logs", state_dir=out / "analytics")
        processes.append(analytics)
        web, base = web_start({**env, "ANALYTICS_ADDRESS": address}, out / "logs")
        processes.append(web)
        report_path = out / "locust.json"
        report_path.unlink(missing_ok=True)
        locust_argv = [sys.executable, "-m", "locust", "-f", "loadtest/soak_locustfile.py", "--headless",
             "--host", base, "--users", str(USERS), "--spawn-rate", str(USERS),
             "--run-time", f"{int(args.minutes * 60)}s", "--soak-rate", str(rate),
             # Users finish the request in flight, so that every 201 the web sent is counted.
             "--stop-timeout", "30",
             "--soak-report", str(report_path), "--only-summary", "--loglevel", "WARNING"]
        locust = subprocess.Popen(
            locust_argv, cwd=ROOT, stdout=(out / "locust.log").open("w"), stderr=subprocess.STDOUT)
        sampler = ProcessSampler({p.name: p.popen.pid for p in processes} | {"locust": locust.pid},
                                SAMPLE_SECONDS)
        sampler.start()
        depth = DepthSampler(amqp_url, address, interval=SAMPLE_SECONDS)
        depth.start()
        locust.wait()
        ended = time.monotonic()
        accepted = json.loads(report_path.read_text())
        drained = drain_wait(accepted["successful"], ended, database=True, analytics=address,
                             preloaded=0)
    finally:
        for thread in (sampler, depth):
            if thread is not None:
                thread.stop.set()
                thread.join(timeout=15)
        for process in reversed(processes):
            process.stop()
    lost, duplicated = losses(accepted["successful"], drained.written, drained.counted)
    growth = growth_after(sampler.samples, SETTLE_MINUTES * 60, WINDOW_MINUTES * 60)
    result = {
        "minutes": args.minutes, "durable_capacity_rps": capacity, "rate": rate,
        "innodb_buffer_pool_bytes": BUFFER_POOL_BYTES,
        # The machine's speed check (bench_probes.calibration_seconds) before and after.
        "speed_check_s": [speed, calibration_seconds()],
        # What the client held: on one machine it competes with the stack for the cores.
        "achieved_rps": round(accepted["successful"] / (args.minutes * 60), 1),
        "accepted": accepted["successful"],
        "failed": accepted["failed"], "written": drained.written, "counted": drained.counted,
        "lost": lost, "duplicated": duplicated, "drain_s": round(drained.seconds, 2),
        "growth_after_settle": growth,
        "max_db_ready": max((s["db_ready"] for s in depth.samples), default=0),
        "max_analytics_backlog": max((s["analytics_backlog"] for s in depth.samples), default=0),
        # The held rate, CPU per purchase and the machine's speed, window by window.
        "windows": windows(sampler.cpu, depth.samples, WINDOW_MINUTES * 60),
        "memory": sampler.samples, "cpu": sampler.cpu, "depth": depth.samples,
    }
    memory_plot(sampler.samples, out / "memory.png",
                f"make soak: {args.minutes:g} min, durable, {rate}/s asked, "
                f"{result['achieved_rps']:g}/s held: resident memory per process")
    (out / "soak.json").write_text(json.dumps(result, indent=1) + "\n")
    ok = (lost == 0 and duplicated == 0 and accepted["failed"] == 0
          and result["achieved_rps"] >= HELD_SHARE * rate
          and all(g <= GROWTH_LIMIT for g in growth.values()))
    print(json.dumps({k: v for k, v in result.items() if k not in ("memory", "cpu", "depth")},
                     indent=1))
    print("soak:", "passed" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
