"""The purchase logic: accept a validated purchase, write batches of them."""
from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import DatabaseError, connection, models, transaction
from django.utils import timezone

from purchases.analytics_backlog import backlog_confirmed, backlog_keep
from purchases.events import PurchaseEvent
from purchases.metrics import ACCEPTED_BY_MODE
from purchases.models import Purchase, PurchaseItem
from purchases.broker.publishing import PublishFailed, event_publish

if TYPE_CHECKING:
    from django.db.backends.utils import CursorWrapper

log = logging.getLogger(__name__)

PURCHASE_COLUMNS = ("purchase_id", "store_id", "customer_id", "date", "created_at")
ITEM_COLUMNS = ("purchase", "item_id", "quantity")


class HandoverFailed(Exception):
    """The purchase could not be handed to the broker or the database: answer 503."""


def _insert_sql(model: type[models.Model], names: tuple[str, ...]) -> str:
    """INSERT of one row of model's fields `names`, in the form executemany batches."""
    quote = connection.ops.quote_name
    columns = ", ".join(quote(model._meta.get_field(name).column) for name in names)
    values = ", ".join(["%s"] * len(names))
    return f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({values})"


def _purchases_insert(cursor: CursorWrapper, new: list[uuid.UUID],
                      by_id: dict[uuid.UUID, PurchaseEvent]) -> dict[uuid.UUID, int]:
    """Insert the new purchases' rows; returns their primary keys by purchase id."""
    uuid_field, date_field, created_field = (
        Purchase._meta.get_field(name) for name in ("purchase_id", "date", "created_at"))
    created_at = created_field.get_db_prep_save(timezone.now(), connection)
    rows = [
        (uuid_field.get_db_prep_save(purchase_id, connection), event.store_id,
         event.customer_id, date_field.get_db_prep_save(event.date, connection), created_at)
        for purchase_id in new
        for event in (by_id[purchase_id],)
    ]
    if len(rows) == 1:  # sync mode's one purchase: its key without another query
        cursor.execute(_insert_sql(Purchase, PURCHASE_COLUMNS), rows[0])
        return {new[0]: cursor.lastrowid}
    cursor.executemany(_insert_sql(Purchase, PURCHASE_COLUMNS), rows)
    return dict(Purchase.objects.filter(purchase_id__in=new).values_list("purchase_id", "pk"))


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
        new = [purchase_id for purchase_id in by_id if purchase_id not in existing]
        if not new:
            return 0
        # A cursor's executemany, not bulk_create: the driver sends one multi-row INSERT
        # (MySQLdb) without the ORM compiling every value of every row on its own.
        with connection.cursor() as cursor:
            keys = _purchases_insert(cursor, new, by_id)
            cursor.executemany(_insert_sql(PurchaseItem, ITEM_COLUMNS), [
                (keys[purchase_id], item_id, quantity)
                for purchase_id in new
                for item_id, quantity in by_id[purchase_id].items
            ])
        if keep_for_analytics:
            backlog_keep(by_id[purchase_id] for purchase_id in new)
    return len(new)


def purchase_accept(*, event: PurchaseEvent) -> None:
    """Hand one purchase over: to the broker (queue mode, returns once it confirmed) or into
    the database (sync mode, returns once committed)."""
    try:
        if settings.TIGLE_WRITE_MODE != "sync":
            event_publish(event=event)
            ACCEPTED_BY_MODE["queue"].inc()
            return
        written = purchases_bulk_create(events=[event], keep_for_analytics=True)
    except (PublishFailed, DatabaseError) as exc:
        raise HandoverFailed(str(exc)) from exc
    if written:  # else a retry: its first attempt kept it for analytics
        ACCEPTED_BY_MODE["sync"].inc()
        analytics_notify(event=event)


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
