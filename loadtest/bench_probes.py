"""What make bench measures around a run: the services it resets and counts in, the CPU each
process spends, the queue depth, the top-N query client and the machine's speed."""
from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from kombu import Connection

from loadtest.cpu import (
    CpuMeter,
    children_cpu,
    machine_cpu,
    named_cpu,
    named_waiting,
    tree_cpu,
    tree_waiting,
)
from purchases.events import ANALYTICS_STREAM, DB_QUEUE
from loadtest.service_admin import mysql_execute, rabbitmqctl, vhost_add
from loadtest.stack import ROOT, Process, realtime_argv

MYSQL = os.environ.get("TIGLE_BENCH_MYSQL", "mysql://root@127.0.0.1:3306")
AMQP = os.environ.get("TIGLE_BENCH_AMQP", "amqp://guest:guest@127.0.0.1:5672")
DATABASE, VHOST = "tigle_bench", "tigle-bench"
QUERY_ITEMS, QUERY_STORES = 100_000, 1024


def _mysql(sql: str) -> list[tuple]:
    return mysql_execute(MYSQL, sql)


def vhost_reset(vhost: str) -> None:
    """An empty vhost of that name on the bench's broker, open to the bench's user."""
    rabbitmqctl("delete_vhost", vhost, check=False)
    vhost_add(AMQP, vhost)
    # The classic queue's version-2 storage, RabbitMQ's default from 3.12 on: 0.015 ms less
    # broker CPU per purchase on 3.10 (BENCHMARKS.md). Only a policy can set it: a declared
    # x-queue-version is refused by a queue of the other version.
    rabbitmqctl("set_policy", "-p", vhost, "--apply-to", "queues", "classic-queue-v2",
                f"^{re.escape(DB_QUEUE)}$", json.dumps({"queue-version": 2}))


def vhost_delete(vhost: str) -> None:
    rabbitmqctl("delete_vhost", vhost, check=False)


def services_reset(env: dict[str, str]) -> None:
    """A fresh database and vhost for a mode, so that no mode sees another's data."""
    _mysql(f"DROP DATABASE IF EXISTS {DATABASE}")
    _mysql(f"CREATE DATABASE {DATABASE}")
    vhost_reset(VHOST)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)


def purchases_written() -> int:
    return int(_mysql(f"SELECT COUNT(*) FROM {DATABASE}.purchases_purchase")[0][0])


def purchases_counted(address: str) -> int:
    from analytics import client

    try:
        return client.stats(address)["purchases"]
    except Exception:  # noqa: BLE001 - not answering yet counts as nothing counted
        return -1


def cpu_meter(processes: list[Process]) -> CpuMeter:
    """CPU per component: this run's processes, the client, the broker and the database."""
    counters = {process.name: (lambda pid=process.popen.pid: tree_cpu(pid))
                for process in processes}
    counters |= {"client": children_cpu, "rabbitmq": lambda: named_cpu("beam.smp"),
                 "mariadb": lambda: named_cpu("mariadbd"), "machine": machine_cpu}
    return CpuMeter(counters)


def wait_meter(processes: list[Process]) -> CpuMeter:
    """Seconds each component was ready to run but waited for a core. The load client is
    left out: it has exited when the meter stops (and runs at real-time priority)."""
    counters = {process.name: (lambda pid=process.popen.pid: tree_waiting(pid))
                for process in processes}
    counters |= {"rabbitmq": lambda: named_waiting("beam.smp"),
                 "mariadb": lambda: named_waiting("mariadbd")}
    return CpuMeter(counters)


class DepthSampler(threading.Thread):
    """purchases.db's ready messages and the stream messages analytics has not counted yet."""

    def __init__(self, amqp_url: str, address: str, *, counted_before: int = 0,
                 interval: float = 0.5) -> None:
        super().__init__(name="depth-sampler", daemon=True)
        self.amqp_url, self.address = amqp_url, address
        self.counted_before, self.interval = counted_before, interval
        self.samples: list[dict] = []
        self.stop = threading.Event()
        self.started_at = time.monotonic()

    def run(self) -> None:
        with Connection(self.amqp_url) as connection:
            channel = connection.default_channel
            while not self.stop.wait(self.interval):
                db = channel.queue_declare(DB_QUEUE, passive=True).message_count
                stream = channel.queue_declare(ANALYTICS_STREAM, passive=True).message_count
                counted = purchases_counted(self.address) - self.counted_before
                self.samples.append({"t": round(time.monotonic() - self.started_at, 2),
                                     "db_ready": db, "analytics_backlog": max(0, stream - counted),
                                     "published": stream})


def query_client_start(address: str, base: str, rate: float, *, read_web: str | None = None,
                       realtime: bool = False) -> subprocess.Popen:
    """read_web: also ask a web process that takes no purchases. realtime: the client too, so
    that it reads each answer as soon as it comes, like a client on a machine of its own
    would, instead of waiting its turn behind the ingest."""
    argv = [sys.executable, "-m", "loadtest.query_latency", "--grpc", address, "--rest", base,
            "--stores", str(QUERY_STORES), "--items", str(QUERY_ITEMS), "--rate", str(rate),
            *(["--read-web", read_web] if read_web else [])]
    return subprocess.Popen(realtime_argv(argv) if realtime else argv, cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def calibration_seconds() -> float:
    """A fixed piece of pure-Python work: tells a slow machine from a slow change."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        sum(range(10**7))
        best = min(best, time.perf_counter() - started)
    return round(best, 3)


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text()
                .splitlines() if line.startswith("model name")), platform.processor())
    memory = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    return {"cpus": os.cpu_count(), "cpu": cpu, "memory_gib": round(memory / 2**20, 1),
            "python": platform.python_version(), "calibration_s": calibration_seconds()}
