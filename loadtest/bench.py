"""make bench: the same Locust store day against each write mode, side by side, on this
machine's MariaDB and RabbitMQ; writes results/bench.json and BENCHMARKS.md.

    python -m loadtest.bench [--quick] [--stores N] [--per-hour N]

Modes: ceiling (the web answers 201 without validating or publishing), durable (queue mode,
persistent messages and confirms: the default), transient (TIGLE_DURABLE=0), sync (written
inside the request). Each mode gets a fresh database and vhost.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from loadtest.cpu import CpuMeter, children_cpu, machine_cpu, named_cpu, tree_cpu
from tigle_project.stack import ROOT, Process, analytics_start, web_start, worker_start

RESULTS = ROOT / "results"
MYSQL = os.environ.get("TIGLE_BENCH_MYSQL", "mysql://root@127.0.0.1:3306")
AMQP = os.environ.get("TIGLE_BENCH_AMQP", "amqp://guest:guest@127.0.0.1:5672")
DATABASE, VHOST = "tigle_bench", "tigle-bench"


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
    # Sync mode writes the database only: nothing reaches the analytics stream.
    Mode("sync", {"TIGLE_WRITE_MODE": "sync"}, worker=False, analytics=False, database=True),
]


def _mysql(sql: str) -> list[tuple]:
    import MySQLdb

    parts = urllib.parse.urlsplit(MYSQL)
    connection = MySQLdb.connect(host=parts.hostname, port=parts.port or 3306,
                                 user=parts.username or "root", passwd=parts.password or "")
    try:
        cursor = connection.cursor()
        cursor.execute(sql)
        return list(cursor.fetchall())
    finally:
        connection.close()


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=False, capture_output=True, timeout=60)


def services_reset(env: dict[str, str]) -> None:
    """A fresh database and vhost for a mode, so that no mode sees another's data."""
    _mysql(f"DROP DATABASE IF EXISTS {DATABASE}")
    _mysql(f"CREATE DATABASE {DATABASE}")
    _rabbitmqctl("delete_vhost", VHOST)
    _rabbitmqctl("add_vhost", VHOST)
    _rabbitmqctl("set_permissions", "-p", VHOST, urllib.parse.urlsplit(AMQP).username or "guest",
                 ".*", ".*", ".*")
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)


def purchases_written() -> int:
    return int(_mysql(f"SELECT COUNT(*) FROM {DATABASE}.purchases_purchase")[0][0])


def purchases_counted(address: str) -> int:
    from analytics import client

    try:
        return client.stats(address)["purchases"]
    except Exception:  # noqa: BLE001 - not answering yet counts as nothing counted
        return -1


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


def losses(accepted: int, *counts: int | None) -> tuple[int, int]:
    """(lost, duplicated): accepted purchases missing from, or counted twice in, any count."""
    known = [n for n in counts if n is not None]
    if not known:
        return 0, 0
    return max(0, accepted - min(known)), max(0, max(known) - accepted)


def cpu_meter(processes: list[Process]) -> CpuMeter:
    """CPU per component: this run's processes, the client, the broker and the database."""
    counters = {process.name: (lambda pid=process.popen.pid: tree_cpu(pid))
                for process in processes}
    counters |= {"client": children_cpu, "rabbitmq": lambda: named_cpu("beam.smp"),
                 "mariadb": lambda: named_cpu("mariadbd"), "machine": machine_cpu}
    return CpuMeter(counters)


def mode_run(mode: Mode, stores: int, per_hour: int) -> dict:
    """One mode: start what it needs, run the day, wait for the drain, count losses."""
    env = {**os.environ, "DATABASE_URL": f"{MYSQL}/{DATABASE}",
           "CELERY_BROKER_URL": f"{AMQP}/{VHOST}", "DJANGO_SECRET_KEY": "bench", **mode.env}
    services_reset(env)
    out = RESULTS / "bench" / f"{mode.name}-{stores}"
    # A checkpoint of an earlier run would describe a stream that no longer exists.
    shutil.rmtree(out, ignore_errors=True)
    processes, address = [], None
    try:
        if mode.worker:
            processes.append(worker_start(env, out / "logs"))
        if mode.analytics:
            analytics, address = analytics_start(env, out / "logs", state_dir=out / "analytics")
            processes.append(analytics)
        web, base = web_start({**env, **({"ANALYTICS_ADDRESS": address} if address else {})},
                              out / "logs")
        processes.append(web)
        meter = cpu_meter(processes)
        meter.start()
        report = store_day(base, out, stores, per_hour)
        ended = time.monotonic()
        accepted = report["successful"]
        written = counted = None
        caught_up: dict[str, float] = {}  # component -> seconds after the last request
        deadline = ended + 300
        while time.monotonic() < deadline:
            written = purchases_written() if mode.database else None
            counted = purchases_counted(address) if address else None
            for name, n in (("database", written), ("analytics", counted)):
                if n is not None and n >= accepted:
                    caught_up.setdefault(name, round(time.monotonic() - ended, 2))
            if all(n is None or n >= accepted for n in (written, counted)):
                break
            time.sleep(0.1)
        drain = time.monotonic() - ended
        cpu = meter.stop()
    finally:
        for process in reversed(processes):
            process.stop()
    done = [n for n in (written, counted) if n is not None]
    seconds = report["wall_time_s"] + (drain if done else 0.0)
    lost, duplicates = losses(accepted, written, counted)
    return {
        "mode": mode.name, "stores": stores, "accepted_rps": round(accepted / report["wall_time_s"], 1),
        "end_to_end_rps": round(accepted / seconds, 1) if done else None,
        "mean_ms": report["mean_ms"], "median_ms": report["median_ms"], "p99_ms": report["p99_ms"],
        "max_ms": report["max_ms"], "drain_s": round(drain, 2) if done else None,
        "lost": lost, "duplicates": duplicates,
        "successful": accepted, "failed": report["failed"],
        "written": written, "counted": counted, "caught_up_s": caught_up,
        "cpu_ms_per_purchase": {name: round(1000 * seconds / max(accepted, 1), 3)
                                for name, seconds in cpu.items()},
    }


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text()
                .splitlines() if line.startswith("model name")), platform.processor())
    memory = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    return {"cpus": os.cpu_count(), "cpu": cpu, "memory_gib": round(memory / 2**20, 1),
            "python": platform.python_version()}


def markdown(results: list[dict], host: dict, command: str) -> str:
    ceiling = next((r["accepted_rps"] for r in results if r["mode"] == "ceiling"), None)
    lines = [
        "# Benchmarks", "",
        f"Written by `{command}` on {time.strftime('%Y-%m-%d')}: {host['cpus']} cores "
        f"({host['cpu']}), {host['memory_gib']} GiB, Python {host['python']}; MariaDB, RabbitMQ, "
        "web (gunicorn), worker, analytics and the Locust client all on this one machine. "
        "Raw figures: `results/bench.json`; each run's report, CSV and charts: `results/bench/`.",
        "",
        "| mode | stores | accepted/s | x ceiling | end to end/s | mean ms | median ms | p99 ms "
        "| max ms | drain s | lost | duplicates |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        share = f"{r['accepted_rps'] / ceiling:.2f}" if ceiling else "-"
        lines.append(
            f"| {r['mode']} | {r['stores']} | {r['accepted_rps']:.0f} | {share} | "
            f"{r['end_to_end_rps'] or '-'} | {r['mean_ms']:.1f} | {r['median_ms']:.1f} | "
            f"{r['p99_ms']:.1f} | {r['max_ms']:.1f} | {r['drain_s'] if r['drain_s'] is not None else '-'} "
            f"| {r['lost']} | {r['duplicates']} |")
    lines += ["", "End to end: from the first request until the last accepted purchase is in the "
              "database and counted by analytics (sync mode: in the database; analytics gets "
              "nothing in sync mode yet). Lost: accepted (201) but missing from the database or "
              "analytics; duplicates: counted more than once.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a small day: a few minutes in all")
    parser.add_argument("--stores", type=int, help="stores (default 256, quick 32)")
    parser.add_argument("--per-hour", type=int, help="purchases per store per hour (default 60, quick 20)")
    parser.add_argument("--modes", default=",".join(m.name for m in MODES))
    args = parser.parse_args(argv)
    stores = args.stores or (32 if args.quick else 256)
    per_hour = args.per_hour or (20 if args.quick else 60)
    modes = [m for m in MODES if m.name in args.modes.split(",")]
    results = []
    for mode in modes:
        print(f"bench: {mode.name}, {stores} stores x 9 x {per_hour} ...", flush=True)
        result = mode_run(mode, stores, per_hour)
        print(f"  {json.dumps(result)}", flush=True)
        results.append(result)
    host = machine()
    command = "make bench" + (" QUICK=1" if args.quick else "")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench.json").write_text(json.dumps(
        {"machine": host, "command": command, "modes": {r["mode"]: r for r in results}},
        indent=2) + "\n")
    (ROOT / "BENCHMARKS.md").write_text(markdown(results, host, command))
    print((ROOT / "BENCHMARKS.md").read_text())
    return 1 if any(r["lost"] or r["duplicates"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
