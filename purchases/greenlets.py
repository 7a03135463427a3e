"""What code in a gevent web process (gunicorn's gevent worker, queue mode) must do apart.

gevent makes sockets, locks and threads cooperative, but a C library that blocks (mysqlclient
waiting on a database that does not answer) holds the whole process: every request in it
waits. Such calls run on native threads, which gevent leaves unpatched for this purpose.
"""
from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import contextmanager
from concurrent.futures import TimeoutError as FutureTimeout
from functools import partial
from typing import TypeVar

from django.db import close_old_connections
from django.urls import get_script_prefix, set_script_prefix

T = TypeVar("T")

_lock = threading.Lock()
_executors: dict[tuple[int, str], Executor] = {}  # by pid: threads do not survive a fork
_on_native = threading.local()  # set in the pools' threads: gevent's pools take no work from them


def gevent_patched() -> bool:
    """Whether gevent's monkey patching is active in this process."""
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and monkey.is_module_patched("threading")


def native_executor(max_workers: int, thread_name_prefix: str) -> Executor:
    """A thread pool whose threads are real OS threads even under gevent; its futures can be
    waited on from a greenlet without holding the others."""
    if gevent_patched():
        from gevent.threadpool import ThreadPoolExecutor as NativeThreadPoolExecutor

        return NativeThreadPoolExecutor(max_workers=max_workers)
    return ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=thread_name_prefix)


def process_native_executor(name: str, max_workers: int) -> Executor:
    """This process's native_executor called name, made on first use (after gunicorn forks)."""
    key = (os.getpid(), name)
    with _lock:
        if key not in _executors:
            _executors[key] = native_executor(max_workers, name)
        return _executors[key]


@contextmanager
def thread_connections() -> Iterator[None]:
    """Around Django work on a thread of a pool: Django closes a request's connections from
    the thread that started it, and these threads keep their own, so this closes the
    thread's stale or broken ones at both ends, as Django would around a request."""
    close_old_connections()
    try:
        yield
    finally:
        close_old_connections()


def _closing_connections(prefix: str, call: Callable[..., T],
                         *args) -> tuple[T | None, BaseException | None]:
    # The script prefix Django set for the request lives in the greenlet's context.
    _on_native.active = True
    set_script_prefix(prefix)
    with thread_connections():
        try:
            return call(*args), None
        except BaseException as exc:  # raised again on the greenlet; gevent would print it
            return None, exc


def on_native_thread(call: Callable[..., T], *args, pool: str, threads: int = 4,
                     timeout: float | None = None,
                     if_late: Callable[[T], object] | None = None) -> T:
    """call(*args), Django code that may block in C, on a native thread of the named pool
    under gevent, waited for by this greenlet alone; concurrent.futures.TimeoutError past
    timeout (the call goes on, and if_late gets what it returns, on a greenlet of its own).
    Elsewhere, and on such a thread already, it runs in place."""
    if not gevent_patched() or getattr(_on_native, "active", False):
        return call(*args)
    future = process_native_executor(pool, threads).submit(
        _closing_connections, get_script_prefix(), call, *args)
    try:
        value, error = future.result(timeout)
    except FutureTimeout:
        if if_late is not None:
            future.add_done_callback(partial(_late, if_late))
        raise
    if error is not None:
        raise error
    return value


def _late(if_late: Callable[[T], object], future: Future) -> None:
    # gevent runs a future's callbacks in its hub, which must not block: a greenlet does.
    value, error = future.result()
    if error is None:
        import gevent

        gevent.spawn(if_late, value)
