"""gunicorn settings for the web process: threads, so publisher-confirm waits overlap."""
import multiprocessing
import os

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"
# gthread, handing requests to its threads through a one-shot epoll (gunicorn_worker.py).
worker_class = "tigle_project.gunicorn_worker.LeanThreadWorker"
workers = int(os.environ.get("WEB_CONCURRENCY", max(2, multiprocessing.cpu_count())))
threads = int(os.environ.get("WEB_THREADS", "8"))
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


def post_worker_init(worker) -> None:
    """The application is loaded: its objects stay for the worker's life (heap.py)."""
    from django.conf import settings

    from tigle_project.heap import startup_heap_freeze

    startup_heap_freeze()
    if settings.TIGLE_WRITE_MODE == "sync":
        from purchases.analytics_backlog import backlog_sender_start

        backlog_sender_start()
