"""Start and stop Tigle's own processes (web, worker, analytics) by PID, for the demo and the tests.

Each process runs in its own session, so it and its children are stopped as one group,
and nothing else on the machine is touched.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def web_argv(port: int) -> list[str]:
    # Workers and threads come from gunicorn_conf (WEB_CONCURRENCY, WEB_THREADS), as in production.
    return [
        sys.executable, "-m", "gunicorn", "-c", "python:tigle_project.gunicorn_conf",
        "--bind", f"127.0.0.1:{port}", "tigle_project.wsgi",
    ]


def worker_argv() -> list[str]:
    # The same command as the Procfile's worker line.
    return [
        sys.executable, "-m", "celery", "-A", "tigle_project", "worker", "--pool", "prefork",
        "--concurrency", "1", "--queues", "purchases.db", "--without-gossip",
        "--without-mingle", "--loglevel", "INFO",
    ]


# Low among real-time priorities (1..99): above ordinary processes, below the kernel's own.
REALTIME_PRIORITY = 10


def analytics_argv() -> list[str]:
    # The same command as the Procfile's analytics line.
    return [sys.executable, "-m", "analytics", "serve"]


def realtime_argv(argv: list[str]) -> list[str]:
    """argv run under SCHED_RR: ahead of every ordinary process whenever it has work.

    Needs root or CAP_SYS_NICE (see realtime_allowed). Every thread inherits the policy; the
    kernel still keeps 5% of each second for ordinary processes (sched_rt_runtime_us).
    """
    return ["chrt", "--rr", str(REALTIME_PRIORITY), *argv]


def realtime_allowed() -> bool:
    """Whether this user may start a process with realtime_argv."""
    try:
        return subprocess.run(realtime_argv(["true"]), capture_output=True).returncode == 0
    except OSError:  # no chrt (util-linux) here
        return False


@dataclass
class Process:
    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    popen: subprocess.Popen | None = field(default=None, repr=False)
    log_offset: int = 0
    cwd: Path = ROOT

    def start(self) -> Process:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        # A restart appends to the same log; only what this run wrote counts.
        self.log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            self.argv, cwd=self.cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        return self

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal_group(self, signum: int) -> None:
        if self.running:
            try:
                os.killpg(self.popen.pid, signum)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        """kill -9 of the process and its children: no cleanup, as in a crash."""
        self.signal_group(signal.SIGKILL)
        if self.popen is not None:
            self.popen.wait(timeout=10)

    def stop(self, timeout: float = 20) -> None:
        if not self.running:
            return
        self.signal_group(signal.SIGTERM)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_text(self) -> str:
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as log:
            log.seek(self.log_offset)
            return log.read().decode(errors="replace")

    def wait_for_log(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log_text():
            if not self.running:
                raise RuntimeError(f"{self.name} exited:\n{self.log_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: no {text!r} in {timeout}s:\n{self.log_text()[-3000:]}")
            time.sleep(0.1)


def wait_http(url: str, process: Process, timeout: float = 30, context=None) -> None:
    """Wait until the URL answers at all (any status): the web process is serving.

    context: the ssl.SSLContext for an https URL (a test's own certificate)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2, context=context)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            if not process.running:
                raise RuntimeError(f"{process.name} exited:\n{process.log_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} not answering after {timeout}s")
            time.sleep(0.1)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ready(process: Process, wait: Callable[[], object]) -> Process:
    """The process once wait() returns; stopped if it raises, so that a failed start leaves
    nothing running behind the caller's back."""
    try:
        wait()
    except BaseException:
        process.stop()
        raise
    return process


# Everything on one host (the demo, the tests, the bench, `make up`): two web processes of
# 16 threads. Each thread waits out its purchase's confirm; more threads per process
# contend for its GIL and stretch the latency tail (BENCHMARKS.md, web alone).
ONE_HOST_WEB = {"WEB_CONCURRENCY": "2", "WEB_THREADS": "16"}


def web_start(env: dict[str, str], log_dir: Path, port: int | None = None, *,
              name: str = "web", realtime: bool = False) -> tuple[Process, str]:
    """A web process on its own port; returns it and its base URL.

    realtime: every thread of it at the real-time priority realtime_argv gives.
    """
    port = port or free_port()
    env = {**ONE_HOST_WEB, **env}
    argv = realtime_argv(web_argv(port)) if realtime else web_argv(port)
    web = Process(name, argv, env, log_dir / f"{name}.log").start()
    base = f"http://127.0.0.1:{port}"
    return _ready(web, lambda: wait_http(f"{base}/healthz", web)), base


def worker_start(env: dict[str, str], log_dir: Path) -> Process:
    worker = Process("worker", worker_argv(), env, log_dir / "worker.log").start()
    return _ready(worker, lambda: worker.wait_for_log("ready.", timeout=60))


def analytics_start(env: dict[str, str], log_dir: Path, *, name: str = "analytics",
                    port: int | None = None, state_dir: Path | None = None,
                    realtime: bool = False) -> tuple[Process, str]:
    """An analytics process on its own port (and state folder, if given); returns its address.

    realtime: every thread of it at the real-time priority realtime_argv gives.
    """
    address = f"127.0.0.1:{port or free_port()}"
    env = {**env, "ANALYTICS_LISTEN": address}
    if state_dir is not None:
        env["ANALYTICS_STATE_DIR"] = str(state_dir)
    argv = realtime_argv(analytics_argv()) if realtime else analytics_argv()
    analytics = Process(name, argv, env, log_dir / f"{name}.log").start()
    # Attached to the stream (and, embedded, its queue bound): no purchase passes it by.
    return _ready(analytics, lambda: analytics.wait_for_log("reading purchases.analytics",
                                                            timeout=60)), address
