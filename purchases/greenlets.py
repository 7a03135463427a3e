"""What code in a gevent web process (gunicorn's gevent worker, queue mode) must do apart.

gevent makes sockets, locks and threads cooperative, but a C library that blocks (mysqlclient
waiting on a database that does not answer) holds the whole process: every request in it
waits. Such calls run on native threads, which gevent leaves unpatched for this purpose.
"""
from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import Executor, ThreadPoolExecutor

_lock = threading.Lock()
_executors: dict[tuple[int, str], Executor] = {}  # by pid: threads do not survive a fork


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
