"""The Celery app: broker from settings, purchases.record routed to the fanout exchange."""
from __future__ import annotations

import os

from celery import Celery

from purchases.events import DB_QUEUE, TASK_NAME
from purchases.topology import db_queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tigle_project.settings")

app = Celery("tigle_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_queues=[db_queue],
    task_routes={TASK_NAME: {"queue": DB_QUEUE}},
    worker_consumer="tigle_project.worker_consumer:Consumer",
)
app.autodiscover_tasks()
