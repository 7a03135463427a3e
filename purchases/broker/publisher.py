"""Publishing with confirms: per process, one broker connection owned by one thread.

Request threads queue their message and wait for their own confirm. The owner thread
publishes whatever has queued, reads the broker's acks, nacks and returns, and wakes the
threads they answer. Waits overlap: RabbitMQ confirms a run of messages with one ack once
they are on disk, so one fsync answers every request that waited on it. A run of publishes
is written corked, so the broker reads it in as few TCP segments as the kernel can make.

Only py-amqp's public calls: confirm_select(), basic_publish(), drain_events() and the
channel's basic_ack, basic_nack and basic_return callbacks (channel.events).
"""
from __future__ import annotations

import logging
import selectors
import socket
import threading
import time
from collections import OrderedDict, deque
from contextlib import contextmanager
from dataclasses import dataclass, field

import amqp
from kombu import Connection

log = logging.getLogger(__name__)

# How often the owner thread looks for publishes past their deadline while nothing happens.
WATCH_SECONDS = 0.25
# With publishes awaiting their confirm, new ones wait for the next frame from the broker,
# or this long, and go out together: no thread is woken per publish under load.
GATHER_SECONDS = 0.002
# A request thread waits this much past its deadline for the owner thread's answer.
ANSWER_GRACE_SECONDS = 1.0


class PublishFailed(Exception):
    """The broker did not take the message; the outcome may be unknown (no confirm came)."""


def close_abruptly(connection: Connection) -> None:
    try:
        # Not release(): a graceful close waits for the broker's reply with no timeout,
        # and a blocked or half-dead broker never sends it.
        connection.collect()
    except Exception:  # already broken; nothing left to close
        pass


@dataclass(eq=False)
class _Publish:
    body: bytes
    headers: dict
    properties: dict
    routing: tuple[str, str]
    deadline: float
    done: threading.Event = field(default_factory=threading.Event)
    error: str | None = None

    def answer(self, error: str | None) -> None:
        if self.error is None:
            self.error = error
        self.done.set()


@contextmanager
def _corked(sock: socket.socket, run: int):
    """Hold back partial segments while a run of publishes is written (Linux TCP_CORK).
    py-amqp writes one small message in one send already: a run of one goes out as it is."""
    cork = getattr(socket, "TCP_CORK", None)
    if run < 2 or cork is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        yield
        return
    sock.setsockopt(socket.IPPROTO_TCP, cork, 1)
    try:
        yield
    finally:
        sock.setsockopt(socket.IPPROTO_TCP, cork, 0)


class ConfirmingPublisher:
    """A confirm-mode channel whose connection belongs to one thread; any thread publishes."""

    def __init__(self, connection: Connection) -> None:
        if connection.transport_options.get("confirm_publish"):
            # py-amqp would make every basic_publish wait for its own confirm.
            raise ValueError("ConfirmingPublisher needs a connection without confirm_publish")
        self.connection = connection
        self._amqp: amqp.Connection = connection.connection
        self._sock: socket.socket = self._amqp.sock
        self._channel: amqp.Channel = connection.default_channel
        self._channel.confirm_select()
        self._channel.events["basic_ack"].add(self._on_ack)
        self._channel.events["basic_nack"].add(self._on_nack)
        self._channel.events["basic_return"].add(self._on_return)
        self._sock.settimeout(None)  # the handshake's timeout; the owner waits in epoll
        self.broken: str | None = None
        self._lock = threading.Lock()  # covers _queued, _wake_me and broken
        self._queued: deque[_Publish] = deque()
        self._wake_me = False  # the owner sleeps with nothing in flight: a publish wakes it
        self._wake_reader, self._wake_writer = socket.socketpair()
        # epoll, not select(): a busy web process's broker socket may be past descriptor 1024.
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._sock, selectors.EVENT_READ)
        self._selector.register(self._wake_reader, selectors.EVENT_READ)
        # Owner thread only: publishes written and not yet answered, by delivery tag.
        self._open: OrderedDict[int, _Publish] = OrderedDict()
        self._next_tag = 1
        self._owner = threading.Thread(target=self._run, name="broker-publisher", daemon=True)
        self._owner.start()

    def publish(self, *, body: bytes, headers: dict, properties: dict, timeout: float,
                routing: tuple[str, str]) -> None:
        """Return once the broker confirmed the message; else raise PublishFailed."""
        item = _Publish(body, headers, properties, routing, time.monotonic() + timeout)
        with self._lock:
            if self.broken is not None:
                raise PublishFailed(self.broken)
            self._queued.append(item)
            wake, self._wake_me = self._wake_me, False
        if wake:
            try:
                self._wake_writer.send(b"\0")
            except OSError:  # the owner has just stopped: it answered the queue on its way out
                pass
        if not item.done.wait(timeout + ANSWER_GRACE_SECONDS):
            # The owner thread is stuck (in a write to a broker that stopped reading, say).
            self.close(f"no answer within {timeout}s")
            raise PublishFailed(f"no confirm within {timeout}s")
        if item.error is not None:
            raise PublishFailed(item.error)

    def close(self, reason: str) -> None:
        """Fail every open publish with reason and drop the connection; from any thread."""
        with self._lock:
            if self.broken is not None:
                return
            self.broken = reason
        log.warning("publisher connection dropped: %s", reason)
        try:
            # Wakes the owner in select(), or in a write the broker no longer reads.
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _run(self) -> None:
        try:
            while self.broken is None:
                self._publish_queued()
                if self._wait():
                    self._drain()
                self._expire()
        except Exception as exc:  # the broker closed the connection or channel, or close() did
            self.close(f"connection lost: {exc!r}")
        finally:
            with self._lock:
                queued, self._queued = self._queued, deque()
            for item in [*self._open.values(), *queued]:
                item.answer(self.broken)
            self._open.clear()
            close_abruptly(self.connection)
            self._selector.close()
            self._wake_reader.close()
            self._wake_writer.close()

    def _publish_queued(self) -> None:
        with self._lock:
            batch, self._queued = self._queued, deque()
        if not batch:
            return
        with _corked(self._sock, len(batch)):
            for item in batch:
                tag, self._next_tag = self._next_tag, self._next_tag + 1
                self._open[tag] = item
                exchange, routing_key = item.routing
                # The tag rides along so that a returned (unroutable) message finds its publish.
                message = amqp.Message(item.body, application_headers=item.headers,
                                       message_id=str(tag), **item.properties)
                self._channel.basic_publish(message, exchange=exchange,
                                            routing_key=routing_key, mandatory=True)

    def _wait(self) -> bool:
        """Sleep until the broker sends something, or a publish is due to go out; whether
        the broker's socket has something to read."""
        with self._lock:
            self._wake_me = not self._open and not self._queued
            if self._wake_me:
                timeout = WATCH_SECONDS
            else:
                timeout = GATHER_SECONDS if self._open else 0
        ready = self._selector.select(timeout)
        with self._lock:
            self._wake_me = False
        ready_files = {key.fileobj for key, _ in ready}
        if self._wake_reader in ready_files:
            self._wake_reader.recv(4096)
        return self._sock in ready_files

    def _drain(self) -> None:
        """Take every frame the broker has sent; the callbacks answer the publishes."""
        while True:
            try:
                self._amqp.drain_events(timeout=0)
            except socket.timeout:
                return

    def _expire(self) -> None:
        oldest = next(iter(self._open.values()), None)
        if oldest is not None and time.monotonic() > oldest.deadline:
            # Its outcome is unknown; so is every other one still open on this connection.
            self.close("no confirm within the publish timeout")

    def _answer_through(self, tag: int, multiple: bool, error: str | None) -> None:
        if not multiple:
            item = self._open.pop(tag, None)
            if item is not None:
                item.answer(error)
            return
        while self._open:
            first = next(iter(self._open))
            if first > tag:
                return
            self._open.pop(first).answer(error)

    def _on_ack(self, tag: int, multiple: bool) -> None:
        self._answer_through(tag, multiple, None)

    def _on_nack(self, tag: int, multiple: bool) -> None:
        self._answer_through(tag, multiple, "the broker refused the message (nack)")

    def _on_return(self, exc: Exception, exchange: str, routing_key: str,
                   message: amqp.Message) -> None:
        # RabbitMQ sends the return before the ack of the same message.
        item = self._open.get(int(message.properties.get("message_id") or 0))
        if item is not None:
            item.error = f"no queue took it: {exc}"
