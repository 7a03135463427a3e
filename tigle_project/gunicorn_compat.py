"""Where the web depends on gunicorn beyond its documented settings (tigle_project/tests/
test_gunicorn_compat.py fails once the installed gunicorn differs from the one checked).

gunicorn's gevent worker, with more than one worker process, sets gevent's
`StreamServer.max_accept` to 1: a process accepts one new connection per turn of its event
loop, and a turn first serves every request that is ready. Saturated, a turn lasts as long
as all those requests take, so a burst of new connections (a quarter of the chain's stores
opening, the load balancer opening connections to a new instance) waits turn after turn:
their first purchases waited tens of seconds in `make bench` (BENCHMARKS.md). gevent's own
default accepts up to 100 per turn.
"""
from __future__ import annotations

GUNICORN_VERSION = "27.0.1"


def gevent_accepts_in_bursts(worker) -> None:
    """From post_worker_init, in a gevent worker process: gevent's default max_accept.

    gunicorn reads `cfg.workers` in the worker's run() only to decide on max_accept (and, in
    each request's environ, wsgi.multiprocess, which Django does not read). The worker's
    copy of the settings is its own since the fork; the arbiter keeps the real count.
    """
    worker.cfg.set("workers", 1)
