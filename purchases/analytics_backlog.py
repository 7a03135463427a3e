"""Sync mode's outbox: every written purchase is kept here until analytics' stream has it.

In sync mode the committed row is the record, and the purchase goes to the analytics stream
only after the commit. So the same transaction that writes the purchase keeps it in
AnalyticsBacklog: a process killed between the commit and the publish, or a broker away
then, cannot leave analytics short for good. Once the broker confirms the publish, the
purchase is forgotten (deleted with all those confirmed within FORGET_SECONDS). A thread in
each web process also sends what is still kept past grace_seconds() (its publish failed, or
its process died), oldest first, and forgets each once confirmed.

A purchase sent twice (a process stopped between the confirm and the delete, a send that
overtook a slow publish, or two processes on a database without SKIP LOCKED, SQLite) counts
once: analytics skips a purchase id it saw lately (analytics/state.py).
"""
from __future__ import annotations

import datetime
import logging
import threading
import time
from collections.abc import Iterable

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.utils import timezone

from purchases.events import EventError, PurchaseEvent, event_from_dict
from purchases.models import AnalyticsBacklog
from purchases.broker.publishing import PublishFailed, event_publish

log = logging.getLogger(__name__)

FORGET_SECONDS = 0.5
SEND_SECONDS = 5.0
SEND_BATCH = 200
FORGET_CHUNK = 1000  # ids per DELETE: a statement for all could pass max_allowed_packet

_confirmed: list[str] = []  # purchase ids the broker took, not yet deleted
_confirmed_lock = threading.Lock()


def grace_seconds() -> float:
    """How long a kept purchase is left to the request that wrote it: its publish ends by
    then (TIGLE_PUBLISH_TIMEOUT), and its confirm is forgotten soon after."""
    return settings.TIGLE_PUBLISH_TIMEOUT + SEND_SECONDS


def backlog_keep(events: Iterable[PurchaseEvent]) -> None:
    """Keep written purchases for analytics: call inside the transaction that writes them."""
    AnalyticsBacklog.objects.bulk_create(
        AnalyticsBacklog(purchase_id=event.id, event=event.to_dict()) for event in events)


def backlog_confirmed(purchase_id: str) -> None:
    """The analytics stream has it: forgotten at the next backlog_forget()."""
    with _confirmed_lock:
        _confirmed.append(purchase_id)


def backlog_forget() -> int:
    """Delete the purchases confirmed since the last call; how many."""
    with _confirmed_lock:
        confirmed = _confirmed[:]
        del _confirmed[:]
    done = 0
    try:
        while done < len(confirmed):
            chunk = confirmed[done:done + FORGET_CHUNK]
            AnalyticsBacklog.objects.filter(purchase_id__in=chunk).delete()
            done += len(chunk)
    except DatabaseError:
        with _confirmed_lock:  # next time, then
            _confirmed[:0] = confirmed[done:]
        raise
    return done


def backlog_send(limit: int = SEND_BATCH, grace: float | None = None) -> int:
    """Send up to limit purchases kept longer than grace (default grace_seconds()) to the
    analytics stream; returns how many the broker confirmed (each is then forgotten). Raises
    PublishFailed once the broker refuses one, after forgetting those it took."""
    since = timezone.now() - datetime.timedelta(
        seconds=grace_seconds() if grace is None else grace)
    oldest = AnalyticsBacklog.objects.filter(created_at__lte=since).order_by("created_at")
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


def backlog_step(send: bool, grace: float | None = None) -> int:
    """One turn of the sender thread: forget what was confirmed; with send, send what waits
    past the grace, batch by batch. Returns how many it sent."""
    close_old_connections()  # a connection the database dropped meanwhile
    total = 0
    while True:
        # Before every batch: a purchase its request saw confirmed meanwhile must be gone
        # before it passes the grace, or a long backlog would have it sent a second time.
        backlog_forget()
        if not send:
            return total
        sent = backlog_send(grace=grace)
        if sent:
            log.info("analytics backlog: %d purchases sent to analytics", sent)
        total += sent
        # Fewer than a batch: nothing older waits, or the rest is another process's claim.
        send = sent == SEND_BATCH


def backlog_sender_start(*, until_empty: bool = False) -> threading.Thread:
    """A daemon thread that runs backlog_step every FORGET_SECONDS, sending every
    SEND_SECONDS: a web process in sync mode. until_empty (queue mode, which keeps nothing):
    it sends what an earlier sync-mode run left, then stops."""
    thread = threading.Thread(target=_send_forever, args=(until_empty,),
                              name="analytics-backlog", daemon=True)
    thread.start()
    return thread


def _send_forever(until_empty: bool) -> None:
    sent_at = time.monotonic() - SEND_SECONDS  # a first send at once
    while True:  # until the process ends
        time.sleep(FORGET_SECONDS)
        send = time.monotonic() - sent_at >= SEND_SECONDS
        if send:
            sent_at = time.monotonic()
        try:
            backlog_step(send)
            if until_empty and send and not AnalyticsBacklog.objects.exists():
                return
        except (DatabaseError, PublishFailed) as exc:
            log.warning("analytics backlog: %s; trying again in %.1f s", exc, FORGET_SECONDS)
        except Exception:
            log.exception("analytics backlog: unexpected failure; trying again")
