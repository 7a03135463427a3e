"""Connections to the broker for analytics: the stream (RabbitMQ) or the embedded folder."""
from __future__ import annotations

import time

from amqp.exceptions import AMQPError
from kombu import Connection, Consumer as KombuConsumer, Queue
from kombu.exceptions import KombuError

from analytics.config import Config
from purchases.amqp_reads import ChunkedReadsTransport, plain_amqp
from purchases.events import ANALYTICS_STREAM
from purchases.filesystem_broker import Transport as FilesystemTransport
from purchases.topology import STREAM_ARGUMENTS, connect_any_node, is_amqp, purchases_exchange

# Also how often the embedded broker's folder is polled.
IDLE_SECONDS = 0.05
HEARTBEAT_SECONDS = 10
BROKER_ERRORS = (OSError, AMQPError, KombuError)
# How long the tail probe waits for the stream's last chunk.
TAIL_PROBE_SECONDS = 0.3


def broker_connection(config: Config) -> Connection:
    if config.broker_folder is None:
        return Connection(config.broker_url, heartbeat=HEARTBEAT_SECONDS, connect_timeout=5,
                          transport=ChunkedReadsTransport if plain_amqp(config.broker_url)
                          else None)
    folder = config.broker_folder
    for sub in ("queue", "control"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    return Connection("filesystem://", transport=FilesystemTransport, transport_options={
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "control_folder": str(folder / "control"),
        "polling_interval": IDLE_SECONDS,
    })


def analytics_queue(connection: Connection, start: int | str) -> Queue:
    if is_amqp(connection):
        return Queue(
            ANALYTICS_STREAM, exchange=purchases_exchange, routing_key=ANALYTICS_STREAM,
            durable=True, queue_arguments=STREAM_ARGUMENTS,
            consumer_arguments={"x-stream-offset": start},
        )
    # The filesystem broker has no streams: a plain queue bound to the same fanout.
    return Queue(ANALYTICS_STREAM, exchange=purchases_exchange, routing_key=ANALYTICS_STREAM,
                 durable=True)


def stream_tail(config: Config) -> int | None:
    """An offset at or past the stream's last message now; None if nothing was delivered.

    Attaching at "last" delivers the stream's last chunk, on a connection of its own.
    """
    seen: list[int] = []
    connection = broker_connection(config)
    try:
        connect_any_node(connection)
        probe = KombuConsumer(connection.channel(), queues=[analytics_queue(connection, "last")],
                              on_message=lambda m: seen.append(m.headers["x-stream-offset"]),
                              prefetch_count=1000)
        probe.consume()
        deadline = time.monotonic() + TAIL_PROBE_SECONDS
        while time.monotonic() < deadline:
            try:
                connection.drain_events(timeout=0.05)
            except TimeoutError:
                if seen:
                    break
    finally:
        connection.collect()
    return max(seen, default=None)
