"""The pages that read the database in their request, on native threads in a gevent web.

The admin and the dashboard's page check their login (session and user) and the admin runs
its queries inside the request, and mysqlclient blocks in C: under gevent one slow query
would hold every purchase of the process, and past gunicorn's timeout get the process killed
with them. Here such a request (its session, login, queries and template) runs on a native
thread while the greenlets go on; only reading its body and writing its answer, which use
the client's socket, stay on the greenlet. Under gthread it all runs as it is.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from django.db import close_old_connections
from django.http import HttpResponseBadRequest, UnreadablePostError
from django.urls import get_script_prefix, set_script_prefix

from purchases.greenlets import gevent_patched, process_native_executor

ADMIN_PREFIX = "/admin/"
DASHBOARD_PAGE = "/dashboard/"  # not its JSON sample: its reads have native threads of their own
# Staff are few; a request past these waits its turn, the purchases do not.
THREADS = 4

T = TypeVar("T")
_on_native = threading.local()  # set in the pools' threads: gevent's pools take no work from them


def _closing_connections(prefix: str, call: Callable[..., T],
                         *args) -> tuple[T | None, BaseException | None]:
    # Django closes a request's connections from the thread that started it; these threads
    # keep their own, so each call here closes its thread's at both ends as Django would.
    # The script prefix Django set for the request lives in the greenlet's context.
    _on_native.active = True
    set_script_prefix(prefix)
    close_old_connections()
    try:
        return call(*args), None
    except BaseException as exc:  # raised again on the greenlet; gevent would print it here
        return None, exc
    finally:
        close_old_connections()


def on_page_thread(call: Callable[..., T], *args, pool: str = "pages",
                   timeout: float | None = None) -> T:
    """call(*args) on a native thread of the named pool under gevent, waited for by this
    greenlet alone; concurrent.futures.TimeoutError past timeout (the call goes on)."""
    if not gevent_patched() or getattr(_on_native, "active", False):
        return call(*args)
    future = process_native_executor(pool, THREADS).submit(
        _closing_connections, get_script_prefix(), call, *args)
    value, error = future.result(timeout)
    if error is not None:
        raise error
    return value


class PagesOnNativeThreadsMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        path = request.path_info
        # The path first: every purchase passes here, and it is the cheaper test.
        if not (path.startswith(ADMIN_PREFIX) or path == DASHBOARD_PAGE) or not gevent_patched():
            return self.get_response(request)
        # The body is read here, on the greenlet, and kept by Django: it comes through gevent's
        # socket, which a native thread may not wait on ("Cannot switch to a different thread").
        # Whole, so past DATA_UPLOAD_MAX_MEMORY_SIZE it is refused (400): these pages take no
        # file uploads.
        try:
            request.body
        except UnreadablePostError:  # the client left mid-body
            return HttpResponseBadRequest("incomplete request body")
        return on_page_thread(self.get_response, request)
