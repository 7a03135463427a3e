"""Batched consumption of purchase messages inside a stock Celery worker.

celery-batches 0.11 acks a batch even when its function raises, never answers when a pool
process dies and can stop flushing after a reconnect. This strategy keeps the rules of
DESIGN.md instead: a message is acked only after the transaction holding it committed; a
batch the database refused goes back to purchases.db (the broker requeues it in place,
never through the fanout) and the worker backs off; every reconnect starts a fresh batcher,
since unacked messages of a dead channel come back from the broker anyway.

The flush runs in the worker's event loop (prefork pool), so with RabbitMQ messages, timer
and acks share one thread and the pool children stay idle; a lock covers the filesystem
broker, where Celery's timer runs in a thread of its own.
"""
from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence

from celery import Task
from kombu.message import Message
from kombu.transport import virtual

from purchases.events import EventError, PurchaseEvent
from purchases.metrics import worker_metrics
from purchases.broker.task_messages import (
    event_from_message,
    message_park,
    message_requeue,
    parks_open,
)
from purchases.broker.topology import is_amqp, topology_declare

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 10.0


def _locked(method: Callable) -> Callable:
    @functools.wraps(method)
    def locked(self: "Batcher", *args: object) -> object:
        with self.lock:
            return method(self, *args)

    return locked


class SettledTags:
    """Which deliveries of one channel are settled (acked, rejected, parked): all up to
    `through`, and some above it."""

    def __init__(self) -> None:
        self.through = 0
        self._above: set[int] = set()

    def add(self, tag: int | str) -> None:
        # kombu's virtual transports tag with strings; only AMQP's numbered tags are tracked.
        if isinstance(tag, int) and tag > self.through:
            self._above.add(tag)
            while self.through + 1 in self._above:
                self.through += 1
                self._above.discard(self.through)


class Batcher:
    """Buffers one connection's messages and writes them a batch at a time."""

    def __init__(
        self,
        *,
        write: Callable[[Sequence[PurchaseEvent]], object],
        size: int,
        seconds: float,
        permanent_errors: tuple[type[Exception], ...] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.write = write
        self.permanent_errors = permanent_errors
        self.size = size
        self.seconds = seconds
        self.clock = clock
        self.pending: list[tuple[Message, PurchaseEvent]] = []
        self.oldest_at = 0.0
        self.backoff = 0.0
        self.resume_at = 0.0
        self.closed = False
        self.timer_entry: object | None = None
        self.settled = SettledTags()
        self.to_park: list[tuple[Message, str]] = []
        self.parking = False
        # With RabbitMQ, messages and timer share the event loop's thread. The filesystem
        # broker has no event loop: Celery's timer is a thread of its own there.
        self.lock = threading.RLock()

    @_locked
    def on_message(self, message: Message) -> None:
        if self.closed:
            return
        try:
            event = event_from_message(message)
        except EventError as exc:
            self.park(message, str(exc))
            return
        if not self.pending:
            self.oldest_at = self.clock()
        self.pending.append((message, event))
        if len(self.pending) >= self.size:
            self.flush()

    @_locked
    def park(self, message: Message, reason: str) -> None:
        """Park a message now or, if it came while another park waited for its confirm,
        right after that one: confirm waits must not nest (py-amqp's would take the outer
        one's confirm, and a run of such messages would nest as deep as the prefetch)."""
        self.to_park.append((message, reason))
        if self.parking:
            return
        self.parking = True
        try:
            while self.to_park and not self.closed:
                message, reason = self.to_park.pop(0)
                # Raising, it stays unacked: the reconnect that follows brings it back.
                message_park(message, reason)
                self.settled.add(message.delivery_tag)
        finally:
            self.parking = False

    @_locked
    def on_tick(self) -> None:
        """Called by the worker's timer: flush a batch that waited long enough."""
        if self.pending and self.clock() - self.oldest_at >= self.seconds:
            self.flush()

    @_locked
    def flush(self) -> None:
        if self.closed or not self.pending or self.clock() < self.resume_at:
            return
        batch, self.pending = self.pending, []
        worker_metrics().batch_size.observe(len(batch))
        try:
            self.write([event for _, event in batch])
        except self.permanent_errors:
            # One purchase the database will never take must not block the rest.
            self._flush_one_by_one(batch)
            return
        except Exception as exc:  # the database is unreachable or refused: nothing acked
            self._requeue(batch, exc)
            return
        self._ack(batch)

    def _flush_one_by_one(self, batch: list[tuple[Message, PurchaseEvent]]) -> None:
        for index, (message, event) in enumerate(batch):
            try:
                self.write([event])
            except self.permanent_errors as exc:
                self.park(message, f"refused by the database: {exc!r}")
            except Exception as exc:
                self._requeue(batch[index:], exc)
                return
            else:
                self._ack([(message, event)])

    def _requeue(self, batch: list[tuple[Message, PurchaseEvent]], exc: Exception) -> None:
        self.backoff = min(max(self.backoff * 2, 0.5), MAX_BACKOFF_SECONDS)
        self.resume_at = self.clock() + self.backoff
        log.warning(
            "batch of %d not written (%r); requeued, next try in %.1fs",
            len(batch), exc, self.backoff,
        )
        for message, _ in batch:
            message_requeue(message)
            self.settled.add(message.delivery_tag)

    def _ack(self, batch: list[tuple[Message, PurchaseEvent]]) -> None:
        # Written but not acked (channel gone): redelivered, and skipped by purchase id.
        self.backoff = 0.0
        messages = [message for message, _ in batch]
        tags = [message.delivery_tag for message in messages]
        if (not isinstance(messages[0].channel, virtual.Channel)
                and tags == list(range(self.settled.through + 1, tags[-1] + 1))):
            # The batch is every open delivery of the channel, in order: one ack settles it
            # (RabbitMQ acks all up to the tag; kombu's virtual channels would ack one only).
            # The others stay unacked in kombu's eyes; nothing here settles them again.
            messages[-1].ack_log_error(log, (Exception,), multiple=True)
        else:
            for message in messages:
                message.ack_log_error(log, (Exception,))
        for tag in tags:
            self.settled.add(tag)

    @_locked
    def close(self) -> None:
        self.closed = True
        self.pending = []
        self.to_park = []
        if self.timer_entry is not None:
            self.timer_entry.cancel()


class BatchingTask(Task):
    """A task whose messages a worker writes in batches; apply() still runs one at a time."""

    abstract = True
    batch_size = 500
    batch_seconds = 0.2
    #: Errors that say a purchase itself can never be written (as opposed to an outage).
    permanent_errors: tuple[type[Exception], ...] = ()
    batcher: Batcher | None = None

    def write_batch(self, events: Sequence[PurchaseEvent]) -> object:
        raise NotImplementedError

    def Strategy(self, task: Task, app: object, consumer: object) -> Callable[..., None]:
        # Called at every (re)connect: the old batcher's messages belong to a dead channel.
        # Declaring here gives the parked queue a home, and opening the parks' channel here
        # keeps the park itself to a bounded wait.
        topology_declare(consumer.connection)
        if is_amqp(consumer.connection):
            parks_open(consumer.connection.connection)
        if self.batcher is not None:
            self.batcher.close()
        batcher = Batcher(
            write=self.write_batch, size=self.batch_size, seconds=self.batch_seconds,
            permanent_errors=self.permanent_errors,
        )
        batcher.timer_entry = consumer.timer.call_repeatedly(
            min(self.batch_seconds, 0.05), batcher.on_tick
        )
        self.batcher = batcher

        def on_task_message(message: Message, *_args: object, **_kwargs: object) -> None:
            batcher.on_message(message)

        return on_task_message
