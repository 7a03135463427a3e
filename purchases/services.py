"""The purchase logic: accept a validated purchase, write batches of them."""
from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable

from django.conf import settings
from django.db import DatabaseError, transaction

from purchases.analytics_backlog import backlog_confirmed, backlog_keep
from purchases.events import PurchaseEvent
from purchases.models import Purchase, PurchaseItem
from purchases.publisher import PublishFailed, event_publish
from tigle_project.answer_later import Confirmation

log = logging.getLogger(__name__)


class HandoverFailed(Exception):
    """The purchase could not be handed to the broker or the database: answer 503."""


def purchases_bulk_create(*, events: Iterable[PurchaseEvent],
                          keep_for_analytics: bool = False) -> int:
    """Write purchases and their items in one transaction; skip ids already written.

    Returns how many purchases were new. A redelivered or retried purchase finds its id
    already there and adds nothing. keep_for_analytics (sync mode): the new ones are also
    kept in the analytics backlog, in the same transaction.
    """
    by_id = {uuid.UUID(event.id): event for event in events}
    with transaction.atomic():
        existing = set(
            Purchase.objects.filter(purchase_id__in=list(by_id)).values_list(
                "purchase_id", flat=True
            )
        )
        purchases = [
            Purchase(
                purchase_id=purchase_id,
                store_id=event.store_id,
                customer_id=event.customer_id,
                date=event.date,
            )
            for purchase_id, event in by_id.items()
            if purchase_id not in existing
        ]
        if not purchases:
            return 0
        Purchase.objects.bulk_create(purchases)
        if any(purchase.pk is None for purchase in purchases):
            # MySQL returns no keys from a bulk insert (MariaDB and SQLite do).
            keys = dict(
                Purchase.objects.filter(
                    purchase_id__in=[p.purchase_id for p in purchases]
                ).values_list("purchase_id", "pk")
            )
            for purchase in purchases:
                purchase.pk = keys[purchase.purchase_id]
        PurchaseItem.objects.bulk_create(
            PurchaseItem(purchase_id=purchase.pk, item_id=item_id, quantity=quantity)
            for purchase in purchases
            for item_id, quantity in by_id[purchase.purchase_id].items
        )
        if keep_for_analytics:
            backlog_keep(by_id[purchase.purchase_id] for purchase in purchases)
    return len(purchases)


def purchase_accept(*, event: PurchaseEvent, confirmation: Confirmation | None = None) -> None:
    """Hand one purchase over: to the broker (queue mode) or into the database (sync mode).

    With a confirmation, a publish returns once written and the confirmation tells, later,
    whether the broker took it (HandoverFailed is then only for what fails at once).
    """
    try:
        if settings.TIGLE_WRITE_MODE != "sync":
            event_publish(event=event, confirmation=confirmation)
            return
        written = purchases_bulk_create(events=[event], keep_for_analytics=True)
    except (PublishFailed, DatabaseError) as exc:
        raise HandoverFailed(str(exc)) from exc
    if written:  # else a retry: its first attempt kept it for analytics
        analytics_notify(event=event)
    if confirmation is not None:
        confirmation.settle(None)


def analytics_notify(*, event: PurchaseEvent) -> None:
    """Sync mode: after the commit, tell analytics, straight to its stream (not the fanout,
    or the worker would write the purchase a second time).

    The row is the record here, and the transaction that wrote it kept the purchase in the
    analytics backlog: if the broker is away, or this process dies before the confirm, the
    backlog's sender sends it later (purchases/analytics_backlog.py).
    """
    try:
        event_publish(event=event, analytics_only=True)
    except PublishFailed as exc:
        log.warning("purchase %s written, kept for analytics until the broker is back: %s",
                    event.id, exc)
    else:
        backlog_confirmed(event.id)
