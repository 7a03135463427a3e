"""gunicorn settings for the web process: stock gthread, so publisher-confirm waits overlap.

Each request thread waits for its own purchase's confirm (purchases/broker/publisher.py);
one connection per process owns the broker, so threads cost a wait, not a connection.
"""
import multiprocessing
import os

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", max(2, multiprocessing.cpu_count())))
# A thread is held for a purchase's broker round trip (an fsync), so more of them than cores.
threads = int(os.environ.get("WEB_THREADS", "16"))
# Load clients keep connections open for a whole store-day.
keepalive = 75
# One kept-alive connection per open store: a chain past 1,000 stores on one process would
# leave the rest in the listen backlog (gunicorn's default is 1,000).
worker_connections = 4096
backlog = 2048
timeout = 30
graceful_timeout = 20
accesslog = None
errorlog = "-"
# One default path per user ($XDG_RUNTIME_DIR or ~/.gunicorn): a second web process on the
# host (a read web, a test's) would take over the first's control socket.
control_socket_disable = True


def post_worker_init(worker) -> None:
    """The application is loaded: its objects stay for the worker's life (heap.py)."""
    from django.conf import settings

    from purchases.analytics_backlog import backlog_sender_start
    from tigle_project.heap import startup_heap_freeze

    startup_heap_freeze()
    # Queue mode keeps nothing for analytics, but sends on what a sync-mode run left.
    backlog_sender_start(until_empty=settings.TIGLE_WRITE_MODE != "sync")


def worker_exit(server, worker) -> None:
    """Confirmed purchases are forgotten before the process goes: else another process
    would send them to analytics again, or, with none in sync mode, they would stay kept."""
    from django.db import DatabaseError

    from purchases.analytics_backlog import backlog_forget

    try:
        backlog_forget()
    except DatabaseError as exc:
        worker.log.warning("analytics backlog: confirmed purchases not forgotten: %s", exc)
