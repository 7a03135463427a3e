"""The broker topology of DESIGN.md, declared idempotently by every component at start.

Needs kombu only (no Django), so that analytics can declare what it uses too.
"""
from __future__ import annotations

from kombu import Connection, Exchange, Queue

from purchases.events import (
    ANALYTICS_STREAM,
    DB_QUEUE,
    EXCHANGE,
    PARKED_QUEUE,
    STREAM_ARGUMENTS,
    queue_type,
)


# A classic queue is declared without the argument, as it was before quorum existed here,
# so queues made then still match.
QUEUE_ARGUMENTS = {"x-queue-type": "quorum"} if queue_type() == "quorum" else None

purchases_exchange = Exchange(EXCHANGE, type="fanout", durable=True)

# Celery publishes to the exchange of the queue a task is routed to: the fanout, so one
# publish reaches both the database queue and the analytics stream.
db_queue = Queue(DB_QUEUE, exchange=purchases_exchange, routing_key=DB_QUEUE, durable=True,
                 queue_arguments=QUEUE_ARGUMENTS)

analytics_stream = Queue(
    ANALYTICS_STREAM,
    exchange=purchases_exchange,
    routing_key=ANALYTICS_STREAM,
    durable=True,
    queue_arguments=STREAM_ARGUMENTS,
)

# Bound to the default exchange only: nothing published to the fanout lands here.
parked_queue = Queue(PARKED_QUEUE, exchange=Exchange(""), routing_key=PARKED_QUEUE, durable=True,
                     queue_arguments=QUEUE_ARGUMENTS)


def is_amqp(connection: Connection) -> bool:
    return connection.transport.driver_type == "amqp"


def connect_any_node(connection: Connection) -> Connection:
    """Connect to the first node of a broker URL list ("amqp://a;amqp://b") that answers.

    Each node is tried once, without pauses; the caller decides when to try the list again.
    """
    return connection.ensure_connection(max_retries=max(len(connection.alt), 1) - 1)


def topology_declare(connection: Connection) -> None:
    """Declare exchange, queues and bindings; safe to repeat, from any process."""
    channel = connection.default_channel
    purchases_exchange(channel).declare()
    db_queue(channel).declare()
    parked_queue(channel).declare()
    if is_amqp(connection):
        analytics_stream(channel).declare()
    # The filesystem broker has no streams; analytics reads a plain queue there, bound once
    # analytics itself declares it, so an embedded run without analytics keeps no backlog.
