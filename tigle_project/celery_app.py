"""The Celery app: broker from settings, purchases.record routed to the fanout exchange."""
from __future__ import annotations

import os

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
)
app.autodiscover_tasks()


@worker_ready.connect
def _heap_freeze(**_) -> None:
    # The worker's main process writes the batches: its start-up objects stay (heap.py).
    from tigle_project.heap import startup_heap_freeze

    startup_heap_freeze()
