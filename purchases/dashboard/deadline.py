"""The dashboard's reads, run side by side and waited for until one deadline per poll.

A read that outlives the deadline keeps running until its own library timeout ends it.
Meanwhile a later poll waits on that same call instead of starting another, so a part that
hangs holds one worker per read in each web process, not one per poll.
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Collection
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from purchases.greenlets import process_native_executor

# More than a poll's reads, so that one stuck read never queues the others behind it.
THREADS = 12
ERROR_CHARS = 200
_lock = threading.Lock()
_executors: dict[int, Executor] = {}
_running: dict[tuple[int, str], Future] = {}


@dataclass
class Outcome:
    value: Any = None
    error: str | None = None
    seconds: float | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _timed(read: Callable[[], Any]) -> tuple[Any, float]:
    started = time.monotonic()
    return read(), time.monotonic() - started


def _executor(native: bool) -> Executor:
    # Under gevent the plain pool's threads are greenlets, right for reads through patched
    # sockets; a read through a C driver (mysqlclient) needs a native thread, or it would hold
    # the whole process.
    if native:
        return process_native_executor("dashboard-db", THREADS)
    pid = os.getpid()  # threads do not survive a gunicorn fork
    if pid not in _executors:
        _executors[pid] = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="dashboard")
    return _executors[pid]


def _submit(name: str, read: Callable[[], Any], native: bool) -> Future:
    key = (os.getpid(), name)
    with _lock:
        future = _running.get(key)
        if future is None or future.done():
            future = _running[key] = _executor(native).submit(_timed, read)
        return future


def _forget_done() -> None:
    with _lock:
        for key in [key for key, future in _running.items() if future.done()]:
            del _running[key]


def reads_run(reads: dict[str, Callable[[], Any]], deadline: float, *,
              native: Collection[str] = ()) -> dict[str, Outcome]:
    """Each read's outcome; a read still running at the deadline is an error.

    native: the names of reads that block in C code.
    """
    end = time.monotonic() + deadline
    futures = {name: _submit(name, read, name in native) for name, read in reads.items()}
    outcomes = {name: _outcome(future, end, deadline) for name, future in futures.items()}
    _forget_done()
    return outcomes


def _outcome(future: Future, end: float, deadline: float) -> Outcome:
    # Only result() with a timeout: gevent's native-thread futures keep the rest of the
    # Future interface only in part.
    try:
        value, seconds = future.result(timeout=max(0.0, end - time.monotonic()))
    except Exception as error:
        if not future.done():  # the deadline, not the read, timed out
            return Outcome(error=f"no answer within {deadline:g} s")
        text = str(error) or type(error).__name__
        return Outcome(error=f"{type(error).__name__}: {text}"[:ERROR_CHARS])
    return Outcome(value=value, seconds=seconds)
