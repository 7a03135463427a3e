"""The RabbitMQ stream through py-amqp's public API: connect, declare, attach at an offset.

Not kombu: its JSON module imports a piece of Django whenever Django is installed, and
analytics never imports Django.
"""
from __future__ import annotations

import socket
import time
from collections.abc import Callable
from urllib.parse import unquote, urlsplit

import amqp
from amqp.exceptions import AMQPError

from purchases.events import ANALYTICS_STREAM, EXCHANGE, STREAM_ARGUMENTS

HEARTBEAT_SECONDS = 10
CONNECT_SECONDS = 5
# How long a declare, an ack or the tail probe's consume waits on the broker: one gone silent
# is taken for gone (the reader reconnects) instead of holding the reader for good.
REPLY_SECONDS = 10
# socket.timeout is an OSError too: a broker gone silent is a broker error.
BROKER_ERRORS = (OSError, AMQPError)
# How long the tail probe waits for the stream's last chunk.
TAIL_PROBE_SECONDS = 0.3
TAIL_PREFETCH = 1000

# (body, offset) of one delivery; offset None where the broker has no offsets (embedded).
OnDelivery = Callable[[bytes, "int | None"], None]


def node_options(url: str) -> dict:
    """amqp.Connection's arguments for one node of a broker URL, read as kombu reads it."""
    parts = urlsplit(url)
    tls = parts.scheme == "amqps"
    host = parts.hostname or "localhost"
    host = f"[{host}]" if ":" in host else host  # an IPv6 address
    return {
        "host": f"{host}:{parts.port or (5671 if tls else 5672)}",
        "userid": unquote(parts.username or "guest"),
        "password": unquote(parts.password or "guest"),
        # "amqp://host//" and "amqp://host" both name the vhost "/".
        "virtual_host": unquote(parts.path[1:]) or "/",
        "ssl": tls,  # True: the system's CAs and a host name check, as kombu's amqps:// does
    }


def broker_connect(url: str) -> amqp.Connection:
    """A connection to the first node of a broker URL list ("amqp://a;amqp://b") that answers.

    Each node is tried once, without pauses; the caller decides when to try the list again.
    """
    error: Exception | None = None
    for node in url.split(";"):
        connection = amqp.Connection(**node_options(node), heartbeat=HEARTBEAT_SECONDS,
                                     connect_timeout=CONNECT_SECONDS)
        try:
            connection.connect()
            # drain_events(timeout) sets its own timeout for each read and puts this back.
            connection.transport.sock.settimeout(REPLY_SECONDS)
            return connection
        except BROKER_ERRORS as exc:
            connection.collect()
            error = exc
    raise error


def topology_declare(channel: amqp.Channel) -> None:
    """The exchange, the stream and its binding, as purchases/broker/topology.py declares them."""
    channel.exchange_declare(EXCHANGE, "fanout", durable=True, auto_delete=False)
    channel.queue_declare(ANALYTICS_STREAM, durable=True, auto_delete=False,
                          arguments=STREAM_ARGUMENTS)
    channel.queue_bind(ANALYTICS_STREAM, exchange=EXCHANGE, routing_key=ANALYTICS_STREAM)


class StreamSource:
    """A connection that declared the topology; attach() starts the deliveries, each of which
    goes to on_delivery."""

    def __init__(self, url: str, on_delivery: OnDelivery, prefetch: int) -> None:
        self.connection = broker_connect(url)
        try:
            # Bodies stay bytes, as the embedded broker's are, instead of decoded to str.
            self._channel = amqp.Channel(self.connection, auto_decode=False)
            self._channel.open()
            topology_declare(self._channel)
        except BaseException:
            self.close()
            raise
        self._on_delivery = on_delivery
        self._prefetch = prefetch
        self._unacked: int | None = None  # the delivery tag of the last delivery handled
        self._beat = time.monotonic()

    def attach(self, start: int | str) -> None:
        # The prefetch keeps delivering while a batch is applied: whatever must stop at a
        # count stops in on_delivery, and streams refuse nack and reject.
        self._channel.basic_qos(0, self._prefetch, False)
        self._channel.basic_consume(ANALYTICS_STREAM, callback=self._on_message,
                                    arguments={"x-stream-offset": start})

    def _on_message(self, message: amqp.Message) -> None:
        self._on_delivery(message.body, message.headers["x-stream-offset"])
        self._unacked = message.delivery_tag

    def drain(self, timeout: float) -> None:
        """Take one delivery; raises TimeoutError when none came within timeout."""
        if time.monotonic() - self._beat > 1:
            self._replies_wait()
            self.connection.heartbeat_tick()
            self._beat = time.monotonic()
        sock = self.connection.transport.sock
        if sock.gettimeout() != timeout:
            # Kept between drains: drain_events(timeout) then leaves the socket alone instead
            # of setting its timeout and putting it back around each of a delivery's frames.
            sock.settimeout(timeout)
        self.connection.drain_events(timeout=timeout)

    def ack(self) -> None:
        """Return the prefetch credit of every delivery handled; streams keep no other state."""
        if self._unacked is not None:
            self._replies_wait()
            self._channel.basic_ack(self._unacked, multiple=True)
            self._unacked = None

    def _replies_wait(self) -> None:
        """Writes wait for the broker as long as any other call does, not a drain's time."""
        self.connection.transport.sock.settimeout(REPLY_SECONDS)

    def close(self) -> None:
        # Not a graceful close: a broker that stopped answering never confirms it.
        self.connection.collect()


def stream_tail(url: str) -> int | None:
    """An offset at or past the stream's last message now; None if nothing was delivered.

    Attaching at "last" delivers the stream's last chunk, on a connection of its own.
    """
    seen: list[int] = []
    connection = broker_connect(url)
    try:
        channel = connection.channel()
        channel.basic_qos(0, TAIL_PREFETCH, False)
        channel.basic_consume(ANALYTICS_STREAM, arguments={"x-stream-offset": "last"},
                              callback=lambda m: seen.append(m.headers["x-stream-offset"]))
        deadline = time.monotonic() + TAIL_PROBE_SECONDS
        while time.monotonic() < deadline:
            try:
                connection.drain_events(timeout=0.05)
            except socket.timeout:
                if seen:
                    break
    finally:
        connection.collect()
    return max(seen, default=None)
