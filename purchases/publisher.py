"""Hand purchase events to the broker: one Celery task message per purchase.

Publisher confirms are pipelined across requests. Each web process keeps one AMQP connection
whose channel is in confirm mode: a request thread writes its message (under a lock, since
py-amqp's frame writer is shared) and waits for its own confirm; one reader thread takes the
broker's acks, nacks and returns off the socket and wakes the requests they answer. RabbitMQ
confirms a whole run of messages with one ack (multiple=True) once they are on disk, so one
broker fsync answers every request that waited on it, where a confirm per request on a
channel of its own costs the broker and the web process several times more. A request still
answers only once its own message is confirmed.

The connection is opened lazily, after gunicorn forks, and declares the topology first.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field

import amqp
from amqp import spec
from django.conf import settings
from kombu import Connection, Producer
from kombu.serialization import dumps

from purchases.events import ANALYTICS_STREAM, DB_QUEUE, EXCHANGE, TASK_NAME, PurchaseEvent
from purchases.topology import is_amqp, topology_declare
from tigle_project.celery_app import app

log = logging.getLogger(__name__)

# After a failed connect, requests fail at once for this long instead of each waiting out
# a connect timeout of its own while the broker is down.
RECONNECT_PAUSE_SECONDS = 0.25


class PublishFailed(Exception):
    """The broker did not take the message; the outcome may be unknown (no confirm came)."""


@dataclass(eq=False)
class _Waiter:
    done: threading.Event = field(default_factory=threading.Event)
    error: str | None = None


def _close_abruptly(connection: Connection) -> None:
    try:
        # Not release(): a graceful close waits for the broker's reply with no timeout,
        # and a blocked or half-dead broker never sends it.
        connection.collect()
    except Exception:  # already broken; nothing left to close
        pass


class ConfirmPipeline:
    """One confirm-mode channel shared by a process's request threads."""

    def __init__(self, connection: Connection, timeout: float) -> None:
        self.connection = connection
        # Kept: kombu's Connection.connection property reconnects when read after a close.
        self._amqp: amqp.Connection = connection.connection
        self.socket: socket.socket = self._amqp.sock
        self.channel: amqp.Channel = connection.default_channel
        # _open() set a timeout for the handshake's replies; the reader blocks without one.
        self.channel.confirm_select()
        self.socket.settimeout(None)
        self.channel._confirm_selected = True  # py-amqp's own record of it, kept true
        self.channel.events["basic_ack"].add(self._on_ack)
        self.channel.events["basic_nack"].add(self._on_nack)
        self.channel.events["basic_return"].add(self._on_return)
        self.broken: str | None = None
        # Re-entrant: py-amqp's frame writer (one shared buffer) runs under it, for request
        # threads and for the reader thread's own replies (CloseOk) alike.
        self._write_lock = threading.RLock()
        writer = self._amqp.frame_writer

        def frame_writer_locked(*args: object) -> object:
            with self._write_lock:
                return writer(*args)

        self._amqp.frame_writer = frame_writer_locked
        self._close_lock = threading.Lock()
        self._waiters: dict[int, _Waiter] = {}
        self._next_tag = 1
        self._lowest_open = 1  # below it every tag is answered; only the reader moves it
        self._reader = threading.Thread(target=self._read, name="publish-confirms", daemon=True)
        self._reader.start()

    def publish(self, *, body: bytes, headers: dict, properties: dict, timeout: float,
                routing: tuple[str, str] = (EXCHANGE, DB_QUEUE)) -> None:
        deadline = time.monotonic() + timeout
        waiter = _Waiter()
        message = amqp.Message(body, application_headers=headers, **properties)
        if not self._write_lock.acquire(timeout=timeout):
            # A write that long means a writer is stuck in sendall(): close() frees it.
            self.close(f"no turn to write within {timeout}s")
            raise PublishFailed(f"no turn to write within {timeout}s")
        try:
            if self.broken:
                raise PublishFailed(self.broken)
            tag = self._next_tag
            # Registered before the tag is taken, so the reader never skips an unanswered tag.
            self._waiters[tag] = waiter
            self._next_tag = tag + 1
            # The tag rides along so that a returned (unroutable) message finds its waiter.
            message.properties["message_id"] = str(tag)
            try:
                # Not basic_publish(): with the connection.blocked capability it reads the
                # socket before each write, which belongs to the reader thread here.
                self.channel.send_method(
                    spec.Basic.Publish, "Bssbb", (0, *routing, True, False), message)
            except BaseException as exc:  # a tag taken but not sent would shift every ack
                self.close(f"write failed: {exc!r}")
                if not isinstance(exc, Exception):
                    raise
            if self.broken:
                # close() may have listed the open waiters just before this one was added.
                self._answer(tag, self.broken)
        finally:
            self._write_lock.release()
        if not waiter.done.wait(max(0.0, deadline - time.monotonic())):
            # Its outcome is unknown; so is every other one still open on this connection.
            self.close(f"no confirm within {timeout}s")
            # Whoever took the waiter (close, or the reader with an ack or a nack) answers it
            # at once; only an answer without an error is a confirm.
            waiter.done.wait(1.0)
        if not waiter.done.is_set() or waiter.error is not None:
            raise PublishFailed(waiter.error or f"no confirm within {timeout}s")

    def close(self, reason: str) -> None:
        """Fail every open publish with reason and drop the connection; safe from any thread."""
        with self._close_lock:
            if self.broken is None:
                self.broken = reason
                log.warning("publisher connection dropped: %s", reason)
                try:
                    # Wakes the reader blocked in recv(), and a writer stuck in sendall().
                    self.socket.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        for tag in list(self._waiters):
            self._answer(tag, self.broken)

    def _read(self) -> None:
        try:
            while self.broken is None:
                self._amqp.drain_events()
        except Exception as exc:  # the broker closed the connection or channel, or close() did
            self.close(f"connection lost: {exc!r}")
        finally:
            _close_abruptly(self.connection)

    def _answer(self, tag: int, error: str | None) -> None:
        waiter = self._waiters.pop(tag, None)
        if waiter is not None:
            if error is not None and waiter.error is None:
                waiter.error = error
            waiter.done.set()

    def _answer_up_to(self, tag: int, multiple: bool, error: str | None) -> None:
        if not multiple:
            self._answer(tag, error)
            return
        first, self._lowest_open = self._lowest_open, max(self._lowest_open, tag + 1)
        for answered in range(first, tag + 1):
            self._answer(answered, error)

    def _on_ack(self, tag: int, multiple: bool) -> None:
        self._answer_up_to(tag, multiple, None)

    def _on_nack(self, tag: int, multiple: bool) -> None:
        self._answer_up_to(tag, multiple, "the broker refused the message (nack)")

    def _on_return(self, exc: Exception, exchange: str, routing_key: str,
                   message: amqp.Message) -> None:
        # RabbitMQ sends the return before the ack of the same message.
        waiter = self._waiters.get(int(message.properties.get("message_id", 0)))
        if waiter is not None:
            waiter.error = f"no queue took it: {exc}"


class LockedPublisher:
    """One publish at a time through kombu: the filesystem broker, and AMQP over TLS."""

    broken: str | None = None

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._producer = Producer(connection.default_channel, auto_declare=False)
        self._lock = threading.Lock()

    def publish(self, *, body: bytes, headers: dict, properties: dict, timeout: float,
                routing: tuple[str, str] = (EXCHANGE, DB_QUEUE)) -> None:
        exchange, routing_key = routing
        try:
            with self._lock:
                self._producer.publish(body, exchange=exchange, routing_key=routing_key,
                                       headers=headers, retry=False, mandatory=True,
                                       timeout=timeout, confirm_timeout=timeout, **properties)
        except Exception as exc:
            self.close(repr(exc))
            raise PublishFailed(repr(exc)) from exc

    def close(self, reason: str) -> None:
        self.broken = reason
        _close_abruptly(self.connection)


_lock = threading.Lock()
_current: dict[int, ConfirmPipeline | LockedPublisher] = {}  # by pid: never across a fork
_last_failure: tuple[float, str] = (0.0, "")


def _open(timeout: float) -> ConfirmPipeline | LockedPublisher:
    connection = app.connection_for_write(connect_timeout=timeout, heartbeat=0)
    try:
        # No retry here: a request waiting out kombu's retry intervals is worse than a 503.
        connection.ensure_connection(max_retries=0, timeout=timeout)
        if is_amqp(connection):
            # Declares wait for replies: a broker gone silent must not hang the process.
            connection.connection.sock.settimeout(timeout)
        topology_declare(connection)
        if is_amqp(connection) and not connection.ssl:
            return ConfirmPipeline(connection, timeout)
        # TLS (one SSL socket must not be read and written by two threads) and the embedded
        # filesystem broker: one publish at a time, confirmed synchronously where confirms exist.
        return LockedPublisher(connection)
    except Exception:
        _close_abruptly(connection)
        raise


def publisher(timeout: float | None = None) -> ConfirmPipeline | LockedPublisher:
    """This process's publisher, connected; raises PublishFailed when the broker is away."""
    global _last_failure
    current = _current.get(os.getpid())
    if current is not None and current.broken is None:
        return current
    timeout = settings.TIGLE_PUBLISH_TIMEOUT if timeout is None else timeout
    if not _lock.acquire(timeout=timeout):
        raise PublishFailed(f"no broker connection within {timeout}s")
    try:
        current = _current.get(os.getpid())
        if current is not None and current.broken is None:
            return current
        failed_at, reason = _last_failure
        if time.monotonic() - failed_at < RECONNECT_PAUSE_SECONDS:
            raise PublishFailed(reason)
        try:
            current = _current[os.getpid()] = _open(timeout)
        except Exception as exc:
            _last_failure = (time.monotonic(), f"broker unreachable: {exc!r}")
            raise PublishFailed(_last_failure[1]) from exc
        return current
    finally:
        _lock.release()


def publisher_drop() -> None:
    """Close this process's connection (tests, and a process that wants a fresh one)."""
    current = _current.pop(os.getpid(), None)
    if current is not None:
        current.close("closed on request")


def event_publish(*, event: PurchaseEvent, analytics_only: bool = False) -> None:
    """Publish and return only once the broker confirmed it.

    analytics_only: straight to the analytics stream, not through the fanout (sync mode,
    where the row is already written).
    """
    # Celery would saferepr() the whole event for monitoring tools: 13% of a request's CPU.
    message = app.amqp.as_task_v2(
        event.id, TASK_NAME, args=(event.to_dict(),),
        argsrepr=f"(<purchase {event.id} store {event.store_id}>,)", kwargsrepr="{}",
    )
    content_type, content_encoding, body = dumps(message.body, serializer="json")
    properties = {
        **message.properties,
        "content_type": content_type,
        "content_encoding": content_encoding,
        "delivery_mode": 2 if settings.TIGLE_DURABLE else 1,
    }
    timeout = settings.TIGLE_PUBLISH_TIMEOUT
    try:
        publisher(timeout).publish(
            body=body.encode(), headers=message.headers, properties=properties, timeout=timeout,
            routing=("", ANALYTICS_STREAM) if analytics_only else (EXCHANGE, DB_QUEUE))
    except PublishFailed as exc:
        log.warning("publish of %s failed: %s", event.id, exc)
        raise


def broker_check() -> str | None:
    """None when this process can publish, else why not."""
    try:
        publisher()
    except PublishFailed as exc:
        return str(exc)
    return None
