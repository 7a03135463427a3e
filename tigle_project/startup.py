"""Web and worker stop at start with one line naming the variable, not a traceback, when
their settings are malformed or name a database or vhost that does not exist.

Called where each process starts, before its first fork: gunicorn's master (gunicorn_conf.py)
and the celery command line (celery_app.py). Without it a worker would reconnect for ever to
a vhost that is not there, and a web process would boot and answer 503s.
"""
from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured


def startup_problem() -> str | None:
    """What stops this process from starting, in one line; None when nothing does."""
    from django.conf import settings

    try:
        database_url, broker_url = settings.DATABASE_URL, settings.CELERY_BROKER_URL
    except ImproperlyConfigured as exc:  # settings.py names the variable
        return str(exc)
    from analytics.startup_check import services_problem

    return services_problem(database_url, broker_url)


def startup_check_or_exit() -> None:
    if problem := startup_problem():
        raise SystemExit(problem)
