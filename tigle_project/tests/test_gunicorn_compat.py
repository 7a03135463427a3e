"""The gunicorn behaviour tigle_project/gunicorn_compat.py relies on, checked against the
installed gunicorn: a new release fails here until someone reads its gevent worker again."""
from __future__ import annotations

import inspect

import gunicorn
from gunicorn.config import Config
from gunicorn.workers import ggevent

from tigle_project.gunicorn_compat import GUNICORN_VERSION, gevent_accepts_in_bursts


def test_the_installed_gunicorn_is_the_one_the_override_was_written_for():
    assert gunicorn.__version__ == GUNICORN_VERSION


def test_the_gevent_worker_still_picks_max_accept_from_the_worker_count_alone():
    source = inspect.getsource(ggevent.GeventWorker.run)
    assert "if self.cfg.workers > 1:" in source
    assert "server.max_accept = 1" in source
    # Nothing else in the worker's own code reads the count.
    module = inspect.getsource(ggevent)
    assert module.count("cfg.workers") == 1


def test_the_override_leaves_the_worker_believing_it_is_alone():
    class Worker:
        cfg = Config()

    worker = Worker()
    worker.cfg.set("workers", 2)
    gevent_accepts_in_bursts(worker)
    assert worker.cfg.workers == 1
