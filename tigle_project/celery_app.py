"""The Celery app: broker from settings, purchases.record routed to the fanout exchange."""
from __future__ import annotations

import os

import click
from celery import Celery
from celery.signals import worker_ready
from django.core.exceptions import ImproperlyConfigured

from purchases.events import DB_QUEUE, TASK_NAME, queue_type

# Every Django-side process imports this first (tigle_project/__init__.py), before its
# settings: a wrong TIGLE_QUEUE_TYPE stops it here as a bad setting does, not as a
# traceback from purchases/broker/topology.py's import.
try:
    queue_type()
except ValueError as exc:
    raise ImproperlyConfigured(str(exc)) from None

from purchases.broker.topology import db_queue  # noqa: E402 (after the check above)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tigle_project.settings")

app = Celery("tigle_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
# With TIGLE_QUEUE_TYPE=quorum, Celery's own DelayedDelivery step binds the fanout to its
# delay exchanges (no setting turns it off): a purchase sent again with a delay would come
# back through the fanout and reach analytics a second time. None is ever delayed: the
# batcher requeues in place, parks through the default exchange, and purchases.record
# refuses a countdown or eta (purchases/tasks.py, purchases/tests/test_quorum_delays.py).
app.conf.update(
    task_queues=[db_queue],
    task_routes={TASK_NAME: {"queue": DB_QUEUE}},
    worker_consumer="purchases.broker.parking_consumer:ParkingConsumer",
)
app.autodiscover_tasks()


def _startup_check(ctx: click.Context, param: click.Parameter, check: bool) -> bool:
    # Eager, so it runs before the worker's own options read the settings: a bad one would
    # otherwise stop it with a traceback, and a missing vhost not at all.
    if check:
        from tigle_project.startup import startup_check_or_exit

        startup_check_or_exit()
    return check


# Celery's documented preload options: added to every `celery -A tigle_project` command.
app.user_options["preload"].add(click.Option(
    ["--startup-check/--no-startup-check"], default=True, is_eager=True,
    callback=_startup_check, help="Stop at once, in one line, if the settings are malformed "
    "or name a database or vhost that does not exist."))


@worker_ready.connect
def _backlog_send_on(**_) -> None:
    # Sync-mode web processes keep for analytics what the stream has not confirmed; one that
    # stopped first leaves rows behind. In queue mode only the worker uses the database, so it
    # sends them on (the gevent web must not wait on mysqlclient), then the thread stops.
    from purchases.analytics_backlog import backlog_sender_start

    backlog_sender_start(until_empty=True)


@worker_ready.connect
def _heap_freeze(**_) -> None:
    # The worker's main process writes the batches: its start-up objects stay (heap.py).
    from tigle_project.heap import startup_heap_freeze

    startup_heap_freeze()


@worker_ready.connect
def _metrics_serve(**_) -> None:
    # Sent in the main process, which writes the batches (the pool's child stays idle): the
    # process that counts is the one that serves. Its pool child is already forked, so it
    # does not inherit the listening socket.
    from purchases.metrics import worker_metrics_serve

    worker_metrics_serve()
