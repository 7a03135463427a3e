"""The dashboard's reads of each part: each one cheap, and each bounded by its own timeout."""
from __future__ import annotations

import os
import threading

from django.conf import settings
from django.db import connection
from django.db.models import Max
from kombu import Connection

from analytics.broker import stream_tail
from purchases import analytics_client
from purchases.broker.topology import connect_any_node, is_amqp
from purchases.events import ANALYTICS_STREAM, DB_QUEUE, PARKED_QUEUE
from purchases.models import Purchase
from tigle_project.celery_app import app

# A broker that does not answer this fast is shown down; the next poll tries again.
BROKER_CONNECT_SECONDS = 0.5
# py-amqp waits for a reply without end by default: a broker gone silent would hold the
# read's thread, and every later poll would wait on that same call.
BROKER_REPLY_SECONDS = 2
_broker_lock = threading.Lock()
_broker: dict[int, Connection] = {}


def broker_is_amqp() -> bool:
    return not settings.CELERY_BROKER_URL.startswith("filesystem")


def purchases_written() -> int | None:
    """The highest purchase row id, None before the first: its growth is the write rate,
    read from the primary key index's end instead of counting a table of millions each
    second. Ids an insert burned (a redelivered duplicate) count too; that is noise an
    operator can live with. Not a count: ids go on from where a truncated table's ended."""
    try:
        return Purchase.objects.aggregate(last=Max("pk"))["last"]
    finally:
        connection.close()  # this pool thread's own connection; nothing reuses it


def _broker_connection() -> Connection:
    # Kept between polls (no heartbeats, so an idle one stays open); a read that fails
    # drops it and the next poll connects anew.
    key = os.getpid()
    with _broker_lock:
        if key not in _broker:
            fresh = app.connection_for_read(
                connect_timeout=BROKER_CONNECT_SECONDS,
                transport_options={"read_timeout": BROKER_REPLY_SECONDS,
                                   "write_timeout": BROKER_REPLY_SECONDS})
            _broker[key] = connect_any_node(fresh)
        return _broker[key]


def _broker_forget() -> None:
    with _broker_lock:
        kept = _broker.pop(os.getpid(), None)
    if kept is not None:
        kept.release()


def _passive_declare(name: str) -> tuple[int, int]:
    channel = _broker_connection().channel()
    try:
        reply = channel.queue_declare(name, passive=True)
        return reply.message_count, reply.consumer_count
    finally:
        channel.close()


def queues_read() -> dict:
    """purchases.db's backlog and consumers, what the worker parked; in the embedded mode,
    analytics' backlog too
    (its queue there is a plain one, which analytics empties as it counts)."""
    try:
        backlog, consumers = _passive_declare(DB_QUEUE)
        amqp = is_amqp(_broker_connection())
    except Exception:
        _broker_forget()
        raise
    try:
        parked = _passive_declare(PARKED_QUEUE)[0]
    except Exception:  # not declared yet (the worker declares it): only the channel closed
        parked = None
    analytics_backlog = None
    if not amqp:
        try:
            analytics_backlog = _passive_declare(ANALYTICS_STREAM)[0]
        except Exception:  # not declared until analytics first ran
            _broker_forget()
    return {"backlog": backlog, "consumers": consumers if amqp else None, "parked": parked,
            "analytics_backlog": analytics_backlog}


def analytics_read() -> dict:
    reply = analytics_client.stats()
    return {"counted": reply.purchases, "units": reply.units, "stores": reply.stores,
            "items": reply.items}


def analytics_lag() -> int:
    """Stream messages analytics has yet to apply (RabbitMQ only).

    The stream's end is probed before Stats is asked, so what arrives during the probe is
    never taken for lag: an analytics that keeps up shows none. A read of its own, apart
    from analytics_read(): a silent broker must not make analytics look down.
    """
    tail = stream_tail(settings.CELERY_BROKER_URL)
    last_offset = analytics_client.stats().last_offset
    return 0 if tail is None else max(0, tail - last_offset)


def top_items_read(store_id: int) -> list[dict]:
    top = analytics_client.top_items(store_id=store_id, n=10)
    return [{"id": item_id, "quantity": quantity} for item_id, quantity in top]


def top_stores_read(item_id: int) -> list[dict]:
    top = analytics_client.top_stores(item_id=item_id, n=5)
    return [{"id": store_id, "quantity": quantity} for store_id, quantity in top]
