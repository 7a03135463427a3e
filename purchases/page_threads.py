"""The pages that read the database in their request, on native threads in a gevent web.

The admin and the dashboard's page check their login (session and user) and the admin runs
its queries inside the request, and mysqlclient blocks in C: under gevent one slow query
would hold every purchase of the process, and past gunicorn's timeout get the process killed
with them. Here such a request (its session, login, queries and template) runs on a native
thread while the greenlets go on; only reading its body and writing its answer, which use
the client's socket, stay on the greenlet. Under gthread it all runs as it is.
"""
from __future__ import annotations

from django.http import HttpResponseBadRequest, UnreadablePostError

from purchases.greenlets import gevent_patched, on_native_thread

ADMIN_PREFIX = "/admin/"
DASHBOARD_PAGE = "/dashboard/"  # not its JSON sample: its reads have native threads of their own
# Staff are few; a request past these waits its turn, the purchases do not.
THREADS = 4


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
        return on_native_thread(self.get_response, request, pool="pages", threads=THREADS)
