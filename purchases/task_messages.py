"""One purchase task message at a time: read its event, park it, or put it back.

The batcher (purchases/batching.py) decides when; these say how, so that a message leaves
the worker only by the routes DESIGN.md allows (never back through the fanout).
"""
from __future__ import annotations

import json
import logging
import weakref

from kombu import Producer
from kombu.message import Message
from kombu.transport import virtual

from purchases.events import (
    DB_QUEUE,
    PARKED_QUEUE,
    TASK_NAME,
    EventError,
    PurchaseEvent,
    event_from_dict,
)

log = logging.getLogger(__name__)

# The park publish waits for its confirm inside the worker's event loop, where heartbeats
# cannot run: a broker gone silent must raise (and reconnect) instead of hanging the worker.
PARK_CONFIRM_SECONDS = 30.0

# By AMQP connection: the confirm-mode channel parks go through when the worker's own
# channel does not confirm (transient mode).
_park_channels: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def event_from_message(message: Message) -> PurchaseEvent:
    """The purchase event carried by a Celery protocol-2 task message."""
    if message.headers.get("task") != TASK_NAME:
        raise EventError(f"not a {TASK_NAME} task message")
    try:
        args, _kwargs, _embed = _body(message)
    except Exception as exc:  # a body that is not JSON of Celery's shape
        raise EventError(f"undecodable task body: {exc!r}") from None
    if not isinstance(args, list) or len(args) != 1:
        raise EventError(f"expected one argument, got {args!r}")
    return event_from_dict(args[0])


def _body(message: Message):
    if message.content_type == "application/json" and "compression" not in message.headers:
        # kombu's decode() runs an object hook over every dict for kombu's own typed values,
        # which a purchase never carries: a tenth of the worker's CPU under load.
        return json.loads(message.body)
    return message.decode()  # anything else: kombu's checks (accepted types, compression)


def _confirming_channel(channel):
    """A channel whose publishes wait for the broker's ack, so that a return (no queue took
    the message) raises before the original is acked: the message's own channel in durable
    mode, else one opened beside it on the same connection."""
    if isinstance(channel, virtual.Channel) or channel.connection.confirm_publish:
        return channel
    parks = _park_channels.get(channel.connection)
    if parks is None or not parks.is_open:
        parks = _park_channels[channel.connection] = channel.connection.channel()
        # As py-amqp itself does on a connection opened with confirm_publish.
        parks.basic_publish = parks.basic_publish_confirm
    return parks


def message_park(message: Message, reason: str) -> None:
    """Keep a message no worker can write, for a person to look at, then let it go."""
    log.error("parking message %s in %s: %s", message.delivery_tag, PARKED_QUEUE, reason)
    Producer(_confirming_channel(message.channel)).publish(
        message.body,
        exchange="",
        routing_key=PARKED_QUEUE,
        headers={**(message.headers or {}), "x-tigle-parked-because": reason},
        content_type=message.content_type,
        content_encoding=message.content_encoding,
        delivery_mode=2,
        # Not taken by the queue (it was deleted, say): fail rather than drop it.
        mandatory=True,
        confirm_timeout=PARK_CONFIRM_SECONDS,
    )
    message.ack()


def message_requeue(message: Message) -> None:
    """Put a message back into purchases.db, and only there.

    RabbitMQ requeues a rejected message in its own queue. kombu's virtual transports (the
    filesystem broker) instead route it again through its exchange, which for the fanout
    would give analytics a second copy; there it is re-sent by queue name instead.
    """
    if not isinstance(message.channel, virtual.Channel):
        # If the channel is gone, the broker requeues the message by itself.
        message.reject_log_error(log, (Exception,), requeue=True)
        return
    Producer(message.channel).publish(
        message.body,
        exchange="",
        routing_key=DB_QUEUE,
        headers=message.headers,
        content_type=message.content_type,
        content_encoding=message.content_encoding,
        delivery_mode=message.properties.get("delivery_mode", 2),
    )
    message.ack()
