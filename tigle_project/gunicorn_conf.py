"""gunicorn settings for the web process: stock workers, so publisher-confirm waits overlap.

Queue mode runs gunicorn's gevent worker: a request waits for its purchase's confirm
(purchases/broker/publisher.py) as a greenlet, so waits overlap without a thread each.
Sync mode runs gthread: it writes to MySQL in the request through mysqlclient, a C driver
that would hold a gevent process whole for every query. docs/architecture.md says more.
"""
import glob
import multiprocessing
import os
import shutil
import tempfile

from tigle_project.env import env_int

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"
_SYNC_MODE = os.environ.get("TIGLE_WRITE_MODE", "queue") == "sync"
worker_class = os.environ.get("WEB_WORKER_CLASS", "gthread" if _SYNC_MODE else "gevent")
# Checked as every other setting is (a bad one stops the start, naming it); gunicorn itself
# reads WEB_CONCURRENCY first and stops with its own traceback if it is not a number.
workers = env_int("WEB_CONCURRENCY", max(2, multiprocessing.cpu_count()), low=1, high=512)
# gthread: a thread is held for a purchase's broker round trip (an fsync), so more of them
# than cores. gevent ignores it (worker_connections bounds its greenlets).
threads = env_int("WEB_THREADS", 16, low=1, high=1024)
# Load clients keep connections open for a whole store-day.
keepalive = 75
# One kept-alive connection per open store: a chain past 1,000 stores on one process would
# leave the rest in the listen backlog (gunicorn's default is 1,000).
worker_connections = 4096
backlog = 2048
# A listening socket per worker process (SO_REUSEPORT): the kernel spreads new connections
# over the processes. On one shared socket the busiest process, waking most often, took most of
# a load client's connections and queued them while the other idled.
reuse_port = True
timeout = 30
graceful_timeout = 20
accesslog = None
errorlog = "-"
# One default path per user ($XDG_RUNTIME_DIR or ~/.gunicorn): a second web process on the
# host (a read web, a test's) would take over the first's control socket.
control_socket_disable = True
# The scheme as Django's SECURE_PROXY_SSL_HEADER reads it (settings.py says why any peer may
# set it): gunicorn's default believes only loopback, so behind the load balancer
# wsgi.url_scheme would say http where request.is_secure() says https. Nothing else is taken
# from the front end: the load balancer passes its clients' own X-Forwarded-Ssl or SCRIPT_NAME
# headers through unchanged.
forwarded_allow_ips = "*"
secure_scheme_headers = {"X-FORWARDED-PROTO": "https"}
forwarder_headers = ""


def post_worker_init(worker) -> None:
    """The application is loaded: its objects stay for the worker's life (heap.py)."""
    from django.conf import settings

    from purchases.analytics_backlog import backlog_sender_start
    from purchases.greenlets import gevent_patched
    from tigle_project.heap import startup_heap_freeze

    if gevent_patched():
        # As grpc documents it: after gevent patched the standard library (the worker did,
        # before loading the application) and before the first channel.
        import grpc.experimental.gevent

        from tigle_project.gunicorn_compat import gevent_accepts_in_bursts

        grpc.experimental.gevent.init_gevent()
        gevent_accepts_in_bursts(worker)
    startup_heap_freeze()
    if settings.TIGLE_WRITE_MODE == "sync":
        backlog_sender_start()


def worker_exit(server, worker) -> None:
    """Confirmed purchases are forgotten before the process goes: else another process
    would send them to analytics again, or, with none in sync mode, they would stay kept."""
    from django.db import DatabaseError

    from purchases.analytics_backlog import backlog_forget

    try:
        backlog_forget()
    except DatabaseError as exc:
        worker.log.warning("analytics backlog: confirmed purchases not forgotten: %s", exc)


# prometheus_client's multiprocess mode (purchases/metrics.py): every web process writes its
# samples to files in one folder, /metrics sums them. The folder is made (or, an operator's,
# emptied) as the master starts, before any process forks, so each inherits the variable.
# prometheus_client is imported only after: it picks its mode at import.
METRICS_DIR_MADE = "TIGLE_METRICS_DIR_MADE"
METRICS_DIR_PREFIX = "tigle-web-metrics-"
_metrics_dir_made: str | None = None


def when_ready(server) -> None:
    # With reuse_port the master opens no socket, and gunicorn's "Listening at:" line names
    # none: an operator reading the log would not see where the web is.
    if server.cfg.reuse_port:
        server.log.info("Each worker listens on %s (a socket each: reuse_port)",
                        ", ".join(server.cfg.bind))


def on_starting(server) -> None:
    # Before anything imports prometheus_client in the master (loading the settings may).
    _metrics_dir_setup()
    # Then, in the master: settings that are malformed or name a missing database or vhost
    # stop the web here in one line (tigle_project/startup.py), not in every worker's boot.
    from tigle_project.startup import startup_check_or_exit

    startup_check_or_exit()


def _metrics_dir_setup() -> None:
    global _metrics_dir_made
    current = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    # A master re-executed by USR2 inherits its parent's folder: it makes a new one, or
    # the parent's exit would remove this one's.
    if current and current != os.environ.get(METRICS_DIR_MADE):
        os.makedirs(current, exist_ok=True)
        for stale in glob.glob(os.path.join(current, "*.db")):
            os.remove(stale)
        return
    _metrics_dirs_of_killed_masters_remove()
    _metrics_dir_made = tempfile.mkdtemp(prefix=f"{METRICS_DIR_PREFIX}{os.getpid()}-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.environ[METRICS_DIR_MADE] = _metrics_dir_made


def _metrics_dirs_of_killed_masters_remove() -> None:
    """A master killed with SIGKILL never ran on_exit: its folder goes at the next start."""
    for path in glob.glob(os.path.join(tempfile.gettempdir(), f"{METRICS_DIR_PREFIX}*-*")):
        pid = os.path.basename(path)[len(METRICS_DIR_PREFIX):].split("-")[0]
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except (ValueError, PermissionError):  # not ours, or another user's living master
            pass


def child_exit(server, worker) -> None:
    """As prometheus_client's documentation says: a gone process's live gauges go too."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server) -> None:
    if _metrics_dir_made is not None:
        shutil.rmtree(_metrics_dir_made, ignore_errors=True)
