"""Hand purchase events to the broker: one Celery task message per purchase.

Each web thread keeps its own connection, so publisher-confirm waits of different requests
overlap instead of queueing behind one another. Connections are opened lazily, after
gunicorn forks, and declare the topology before their first publish.
"""
from __future__ import annotations

import logging
import select
import socket
import threading

from django.conf import settings
from kombu import Connection, Producer

from purchases.events import DB_QUEUE, EXCHANGE, TASK_NAME, PurchaseEvent
from purchases.topology import is_amqp, topology_declare
from tigle_project.celery_app import app

log = logging.getLogger(__name__)
_local = threading.local()


class PublishFailed(Exception):
    """The broker did not take the message; the outcome may be unknown (no confirm came)."""


def _connection_open() -> tuple[Connection, Producer]:
    timeout = settings.TIGLE_PUBLISH_TIMEOUT
    connection = app.connection_for_write(connect_timeout=timeout, heartbeat=0)
    try:
        # No retry here: a request waiting out kombu's retry intervals is worse than a 503.
        connection.ensure_connection(max_retries=0, timeout=timeout)
        topology_declare(connection)
    except Exception:
        _close_abruptly(connection)
        raise
    return connection, Producer(connection.default_channel, auto_declare=False)


def _close_abruptly(connection: Connection) -> None:
    try:
        # Not release(): a graceful close waits for the broker's reply with no timeout,
        # and a blocked or half-dead broker never sends it.
        connection.collect()
    except Exception:  # already broken; nothing left to close
        pass


def _connection_drop() -> None:
    connection = getattr(_local, "connection", None)
    _local.connection = _local.producer = None
    if connection is not None:
        _close_abruptly(connection)


def _connection_alive(connection: Connection) -> bool:
    """True unless the broker closed this idle connection (restart, failover, idle cut)."""
    if not is_amqp(connection):
        return True
    # An idle publisher without heartbeats receives nothing unless the broker closes it,
    # so a readable socket is the cheap sign (about 1 us) that a check is needed. poll(),
    # not select(): a web process with many client connections has descriptors past 1024.
    poller = select.poll()
    poller.register(connection.connection.sock, select.POLLIN)
    if not poller.poll(0):
        return True
    try:
        connection.drain_events(timeout=0.0001)
    except socket.timeout:
        return True
    except Exception:
        return False
    return True


def _producer() -> Producer:
    connection = getattr(_local, "connection", None)
    if connection is not None and not _connection_alive(connection):
        # Nothing was sent on the dead connection, so opening a new one is safe.
        _connection_drop()
        connection = None
    if connection is None:
        _local.connection, _local.producer = _connection_open()
    return _local.producer


def event_publish(*, event: PurchaseEvent) -> None:
    """Publish and, in durable mode, return only once the broker confirmed it."""
    # Celery would saferepr() the whole event for monitoring tools: 13% of a request's CPU.
    message = app.amqp.as_task_v2(
        event.id, TASK_NAME, args=(event.to_dict(),),
        argsrepr=f"(<purchase {event.id} store {event.store_id}>,)", kwargsrepr="{}",
    )
    timeout = settings.TIGLE_PUBLISH_TIMEOUT
    try:
        _producer().publish(
            message.body,
            exchange=EXCHANGE,
            routing_key=DB_QUEUE,
            serializer="json",
            headers=message.headers,
            delivery_mode=2 if settings.TIGLE_DURABLE else 1,
            # With no queue bound, RabbitMQ would confirm and drop it; this returns it instead.
            mandatory=True,
            retry=False,
            timeout=timeout,
            confirm_timeout=timeout,
            **message.properties,
        )
    except Exception as exc:  # any failure means the purchase was not handed over
        _connection_drop()
        log.warning("publish of %s failed: %r", event.id, exc)
        raise PublishFailed(repr(exc)) from exc


def broker_check() -> str | None:
    """None when this thread can publish, else why not."""
    try:
        _producer()
    except Exception as exc:
        _connection_drop()
        return repr(exc)
    return None
