"""Sync mode: purchases written while the broker was away, sent on to analytics once it is back.

In sync mode the committed row is the record: a purchase whose publish to the analytics stream
then fails is still accepted (201). It waits in AnalyticsBacklog instead of being missed by
analytics for good. A thread in each web process looks every few seconds and sends what it can
claim, oldest first, forgetting each purchase once the broker has confirmed it.

A purchase sent twice (a process stopped between the confirm and the delete, or two processes
on a database without SKIP LOCKED, SQLite) counts once: analytics skips a purchase id it saw lately
(analytics/state.py).
"""
from __future__ import annotations

import logging
import threading
import time

from django.db import DatabaseError, close_old_connections, connection, transaction

from purchases.events import EventError, PurchaseEvent, event_from_dict
from purchases.models import AnalyticsBacklog
from purchases.publisher import PublishFailed, event_publish

log = logging.getLogger(__name__)

SEND_SECONDS = 5.0
SEND_BATCH = 200


def backlog_keep(event: PurchaseEvent) -> None:
    """Keep a written purchase for analytics; raises DatabaseError if it cannot."""
    AnalyticsBacklog.objects.get_or_create(purchase_id=event.id,
                                           defaults={"event": event.to_dict()})


def backlog_send(limit: int = SEND_BATCH) -> int:
    """Send up to limit kept purchases to the analytics stream; returns how many the broker
    confirmed (each is then forgotten). Raises PublishFailed once the broker refuses one,
    after forgetting those it took."""
    oldest = AnalyticsBacklog.objects.order_by("created_at")
    if not connection.features.has_select_for_update_skip_locked:
        # SQLite: no claim, and no write lock held while publishing (it would stop every
        # purchase's commit); a purchase two processes send is counted once all the same.
        sent, failure = _send(list(oldest[:limit]))
    else:
        with transaction.atomic():
            # Another process's claim is skipped, not waited for.
            sent, failure = _send(list(oldest.select_for_update(skip_locked=True)[:limit]))
    if failure is not None:  # raised once the deletes are committed
        raise failure
    return sent


def _send(kept: list[AnalyticsBacklog]) -> tuple[int, PublishFailed | None]:
    """Publish each, forget those the broker took: (how many, the failure that stopped it)."""
    sent, failure = [], None
    for one in kept:
        try:
            event = event_from_dict(one.event)
        except EventError as exc:  # not written by backlog_keep: nothing can count it
            log.error("analytics backlog: dropping %s: %s", one.purchase_id, exc)
            sent.append(one.purchase_id)
            continue
        try:
            event_publish(event=event, analytics_only=True)
        except PublishFailed as exc:
            failure = exc
            break
        sent.append(one.purchase_id)
    AnalyticsBacklog.objects.filter(purchase_id__in=sent).delete()
    return len(sent), failure


def backlog_sender_start() -> threading.Thread:
    """A daemon thread that sends the backlog every SEND_SECONDS (a web process in sync mode)."""
    thread = threading.Thread(target=_send_forever, name="analytics-backlog", daemon=True)
    thread.start()
    return thread


def _send_forever() -> None:
    while True:  # until the process ends
        time.sleep(SEND_SECONDS)
        try:
            close_old_connections()  # a connection the database dropped meanwhile
            while AnalyticsBacklog.objects.exists():
                sent = backlog_send()
                log.info("analytics backlog: %d purchases sent to analytics", sent)
                if sent == 0:  # all claimed by another process
                    break
        except (DatabaseError, PublishFailed) as exc:
            log.warning("analytics backlog: %s; trying again in %.0f s", exc, SEND_SECONDS)
        except Exception:
            log.exception("analytics backlog: unexpected failure; trying again")
