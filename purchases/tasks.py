"""The purchases.record task: its messages are written in batches by the worker."""
from __future__ import annotations

from collections.abc import Sequence

from celery import shared_task
from celery.result import AsyncResult
from django.conf import settings
from django.db import DatabaseError, DataError, IntegrityError, close_old_connections

from purchases.broker.batching import BatchingTask
from purchases.events import TASK_NAME, PurchaseEvent, event_from_dict
from purchases.metrics import worker_metrics
from purchases.services import purchases_bulk_create


class RecordTask(BatchingTask):
    batch_size = settings.TIGLE_BATCH_SIZE
    batch_seconds = settings.TIGLE_BATCH_SECONDS
    permanent_errors = (DataError, IntegrityError)

    def apply_async(self, args: tuple | None = None, kwargs: dict | None = None,
                    **options: object) -> AsyncResult:
        """Celery's, refusing a delay: a delayed purchase would come back through the fanout
        (Celery's delay exchanges are bound to it with quorum queues) and reach analytics a
        second time."""
        if options.get("countdown") or options.get("eta"):
            raise ValueError(f"{TASK_NAME} is never delayed (countdown/eta)")
        return super().apply_async(args, kwargs, **options)

    def write_batch(self, events: Sequence[PurchaseEvent]) -> int:
        # No request cycle here: drop a connection that failed or outlived CONN_MAX_AGE.
        close_old_connections()
        metrics = worker_metrics()
        try:
            written = purchases_bulk_create(events=events)
        except DatabaseError:
            metrics.db_errors.inc()
            raise
        metrics.written.inc(written)
        return written


@shared_task(name=TASK_NAME, base=RecordTask, ignore_result=True)
def record(event: dict) -> int:
    """One purchase at a time, for apply() and eager runs; workers batch instead."""
    return purchases_bulk_create(events=[event_from_dict(event)])
