"""One write-mode run of make bench: the stack started for a mode, a Locust store day against
it, the CPU each process spent, the drain waited for and the purchases lost or doubled."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from loadtest.bench_figures import drain_wait, result_of
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
    query_client_start,
    services_reset,
    wait_meter,
)
from loadtest.preload import matrix_preload
from loadtest.stack import ROOT, analytics_start, realtime_allowed, web_start, worker_start

RESULTS = ROOT / "results"
QUERY_AT_REST_SECONDS = 10
READ_WEB_THREADS = 4  # one query at a time in the bench; a few for a real reader's bursts


@dataclass(frozen=True)
class Mode:
    """A write mode: the environment it sets and the services it needs."""

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


def store_day(base: str, out: Path, stores: int, per_hour: int, keyed: bool = False) -> dict:
    """The Locust store day against base, logged under out; its report."""
    command = [sys.executable, "-m", "locust", "-f", "loadtest/locustfile.py", "--headless",
               "--host", base, "--max-stores", str(stores), "--num-purchases", str(per_hour),
               "--requests-csv", str(out / "requests.csv"), "--report", str(out / "report.json"),
               "--only-summary", "--loglevel", "WARNING",
               *(["--idempotency-keys"] if keyed else [])]
    out.mkdir(parents=True, exist_ok=True)
    with (out / "locust.log").open("w") as log:
        subprocess.run(command, cwd=ROOT, check=False, timeout=3600, stdout=log,
                       stderr=subprocess.STDOUT)
    return json.loads((out / "report.json").read_text())


# Sent before the measured seconds of a fixed-rate run, out of its latencies (fixed_rate.py).
FIXED_RATE_WARMUP_SECONDS = 5


def fixed_rate_load(base: str, out: Path, rate: float, seconds: float,
                    keyed: bool = False) -> dict:
    """loadtest/fixed_rate.py against base at rate purchases/s; its report. The client runs
    at real-time priority where this user may: people wait on machines of their own."""
    command = [sys.executable, "-m", "loadtest.fixed_rate", "--host", base, "--rate", str(rate),
               "--seconds", str(seconds), "--warmup", str(FIXED_RATE_WARMUP_SECONDS),
               "--report", str(out / "report.json"), "--requests-csv", str(out / "requests.csv"),
               *(["--realtime"] if realtime_allowed() else []),
               *(["--idempotency-keys"] if keyed else [])]
    out.mkdir(parents=True, exist_ok=True)
    with (out / "fixed-rate.log").open("w") as log:
        subprocess.run(command, cwd=ROOT, check=False, timeout=600, stdout=log,
                       stderr=subprocess.STDOUT)
    return json.loads((out / "report.json").read_text())


def mode_run(mode: Mode, stores: int, per_hour: int, *, name: str | None = None,
             sample_depth: bool = False, query_rate: float | None = None,
             realtime: bool = False, fixed_rate: tuple[float, float] | None = None,
             web_realtime: bool = False, keyed: bool = False) -> dict:
    """One run: start what it needs, run the day, wait for the drain, count losses.

    query_rate: analytics starts on a full 100,000 x 1,024 matrix and a client measures
    top-N latency at that rate while the day runs. realtime: analytics and that client run at
    real-time priority. fixed_rate: (purchases/s, seconds) sent open loop instead of the day.
    web_realtime: the web that takes the purchases runs at real-time priority. keyed: every
    purchase with an Idempotency-Key of its own.
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
        web, base = web_start(web_env, out / "logs", realtime=web_realtime)
        processes.append(web)
        read_web = None
        if query_rate and address:
            # Reads on a web process of their own, as an ELB path rule would send them:
            # the ingest's web keeps its GIL queue to itself.
            reader, read_web = web_start({**web_env, "WEB_THREADS": str(READ_WEB_THREADS)},
                                         out / "logs", name="read-web", realtime=realtime)
            processes.append(reader)
        meter, waits = cpu_meter(processes), wait_meter(processes)
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
        waits.start()
        if fixed_rate:
            report = fixed_rate_load(base, out, *fixed_rate, keyed=keyed)
        else:
            report = store_day(base, out, stores, per_hour, keyed=keyed)
        ended = time.monotonic()
        query_latency = json.loads(queries.communicate(timeout=60)[0]) if queries else None
        drained = drain_wait(report["successful"], ended, database=mode.database,
                             analytics=address, preloaded=preloaded)
        cpu, waited = meter.stop(), waits.stop()
    finally:
        if sampler is not None:
            sampler.stop.set()
            sampler.join(timeout=5)
        if queries is not None and queries.poll() is None:
            queries.kill()
        for process in reversed(processes):
            process.stop()
    result = result_of(mode.name, stores, per_hour, report, drained, cpu, calibration,
                       waited=waited)
    if sampler is not None:
        result["depth_samples"] = sampler.samples
    if query_latency is not None:
        result["query_latency"] = query_latency
        result["query_latency_at_rest"] = at_rest
    return result
