"""One purchase task message at a time: read its event, park it, or put it back.

The batcher (purchases/broker/batching.py) decides when; these say how, so that a message leaves
the worker only by the routes DESIGN.md allows (never back through the fanout).
"""
from __future__ import annotations

import errno
import json
import logging
import time
import weakref

import amqp
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
from purchases.metrics import worker_metrics

log = logging.getLogger(__name__)

# The park publish waits for its confirm inside the worker's event loop, where heartbeats
# cannot run: a broker gone silent must raise (and reconnect) instead of hanging the worker.
PARK_CONFIRM_SECONDS = 30.0

# A parked message's header: why no worker could write it.
PARKED_BECAUSE = "x-tigle-parked-because"

# By AMQP connection: the confirm-mode channel beside the worker's own that parks go through.
_park_channels: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class ParkFailed(ConnectionError):
    """The broker did not take a parked message: the original must not be let go.

    A connection error to Celery's consumer, from a delivery or a timer alike: it reconnects,
    and the broker gives back whatever the old channel left unacked."""

    def __init__(self, reason: str) -> None:
        # With an errno: Celery's first read after a (re)connect swallows an error without one.
        super().__init__(errno.ECONNABORTED, reason)

    def __str__(self) -> str:
        return self.strerror


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


class ConfirmingChannel:
    """A channel in confirm mode (py-amqp's public confirm_select() and channel events),
    opened beside a worker's own on the same connection: a publish returns once the broker
    acked it, and raises if the broker returned it (no queue took it), refused it, or did
    not answer in time."""

    def __init__(self, connection: amqp.Connection) -> None:
        self.connection = connection
        self.channel = connection.channel()
        self.channel.confirm_select()
        self.published = 0  # the broker numbers a confirm-mode channel's publishes from 1
        self.waiting: set[int] = set()
        self.answers: dict[int, str | None] = {}  # publish number -> why it failed, or None
        self.returned: Exception | None = None
        self.channel.events["basic_ack"].add(self.on_ack)
        self.channel.events["basic_nack"].add(self.on_nack)
        self.channel.events["basic_return"].add(self.on_return)

    def on_return(self, exc: Exception, exchange: str, routing_key: str,
                  message: amqp.Message) -> None:
        # RabbitMQ sends a publish's return just before that publish's confirm.
        self.returned = exc

    def on_ack(self, tag: int, multiple: bool) -> None:
        self.on_confirm(tag, multiple, refused=False)

    def on_nack(self, tag: int, multiple: bool) -> None:
        self.on_confirm(tag, multiple, refused=True)

    def on_confirm(self, tag: int, multiple: bool, *, refused: bool) -> None:
        failure = ("refused by the broker (nack)" if refused
                   else f"taken by no queue: {self.returned!r}" if self.returned else None)
        self.returned = None
        for number in [n for n in self.waiting if n <= tag] if multiple else [tag]:
            if number in self.waiting:
                self.waiting.discard(number)
                self.answers[number] = failure

    def publish(self, body: bytes, *, timeout: float, **options) -> None:
        self.published += 1
        number = self.published
        self.waiting.add(number)
        deadline = time.monotonic() + timeout
        try:
            # With confirm_publish on the connection (durable mode), py-amqp itself waits
            # for this confirm inside publish(), up to confirm_timeout.
            Producer(self.channel).publish(body, mandatory=True, confirm_timeout=timeout,
                                           **options)
            # Draining may deliver to the worker's other channel, and so park again in
            # between: each publish waits for its own number.
            while number not in self.answers and time.monotonic() < deadline:
                try:
                    self.connection.drain_events(timeout=deadline - time.monotonic())
                except TimeoutError:
                    pass  # the loop's deadline decides
            if number not in self.answers:
                raise TimeoutError
            failure = self.answers[number]
        except TimeoutError:
            raise ParkFailed(f"no confirm from the broker within {timeout}s") from None
        finally:
            self.waiting.discard(number)
            self.answers.pop(number, None)
        if failure is not None:
            raise ParkFailed(failure)


def parks_open(connection: amqp.Connection) -> ConfirmingChannel:
    """The channel parks take on this AMQP connection, opened if need be.

    Opening waits for the broker without a bound: the worker opens it as it connects,
    not in the middle of a park.
    """
    parks = _park_channels.get(connection)
    if parks is None or not parks.channel.is_open:
        parks = _park_channels[connection] = ConfirmingChannel(connection)
    return parks


def message_move(message: Message, queue: str, headers: dict) -> None:
    """A copy into queue by the default exchange (never the fanout, which would give
    analytics a second copy), confirmed by the broker; only then the original let go."""
    options = dict(
        exchange="",
        routing_key=queue,
        headers=headers,
        content_type=message.content_type,
        content_encoding=message.content_encoding,
        delivery_mode=2,
    )
    if isinstance(message.channel, virtual.Channel):
        # kombu's virtual transports (the embedded filesystem broker) store synchronously.
        Producer(message.channel).publish(message.body, mandatory=True, **options)
    else:
        # Taken by no queue (it was deleted, say), or not confirmed: fail, keep the original.
        parks_open(message.channel.connection).publish(
            message.body, timeout=PARK_CONFIRM_SECONDS, **options)
    message.ack()


def message_park(message: Message, reason: str) -> None:
    """Keep a message no worker can write, for a person to look at, then let it go."""
    log.error("parking message %s in %s: %s", message.delivery_tag, PARKED_QUEUE, reason)
    message_move(message, PARKED_QUEUE, {**(message.headers or {}), PARKED_BECAUSE: reason})
    worker_metrics().parked.inc()


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
