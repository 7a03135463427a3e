"""The admin's requests on native threads in a gevent web process (queue mode).

The admin queries MySQL inside its requests, and mysqlclient blocks in C: under gevent one
slow admin query would hold every purchase of the process, and past gunicorn's timeout get the
process killed with them. Here an admin request (its session, login, queries and template)
runs on a native thread while the greenlets go on; only reading its body and writing its
answer, which use the client's socket, stay on the greenlet. Under gthread it runs as it is.
"""
from __future__ import annotations

from django.db import close_old_connections

from purchases.greenlets import gevent_patched, process_native_executor

ADMIN_PREFIX = "/admin/"
# Staff are few; a request past these waits its turn, the purchases do not.
THREADS = 4


def _run(get_response, request):
    # Django closes a request's connections from the thread that started it; these threads
    # keep their own, so each request here closes its thread's at both ends as Django would.
    close_old_connections()
    try:
        return get_response(request)
    finally:
        close_old_connections()


class AdminOnNativeThreadsMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        if not request.path_info.startswith(ADMIN_PREFIX) or not gevent_patched():
            return self.get_response(request)
        # The body is read here, on the greenlet, and kept by Django: it comes through gevent's
        # socket, which a native thread may not wait on ("Cannot switch to a different thread").
        request.body
        admin_threads = process_native_executor("admin", THREADS)
        return admin_threads.submit(_run, self.get_response, request).result()
