"""Hand purchase events to the broker: one Celery task message per purchase.

Each web process keeps one publisher (purchases/broker/publisher.py: one connection, owned
by one thread, confirms overlapping across the request threads). It is opened lazily, after
gunicorn forks, declares the topology first, and is replaced when the broker drops it.
"""
from __future__ import annotations

import logging
import os
import threading
import time

from django.conf import settings
from kombu.serialization import dumps

from purchases.broker.locked_publisher import LockedPublisher
from purchases.broker.publisher import ConfirmingPublisher, PublishFailed, close_abruptly
from purchases.events import ANALYTICS_STREAM, DB_QUEUE, EXCHANGE, TASK_NAME, PurchaseEvent
from purchases.metrics import PUBLISH_SECONDS
from purchases.broker.topology import connect_any_node, is_amqp, topology_declare
from tigle_project.celery_app import app

log = logging.getLogger(__name__)

# After a failed connect, requests fail at once for this long instead of each waiting out
# a connect timeout of its own while the broker is down.
RECONNECT_PAUSE_SECONDS = 0.25


_lock = threading.Lock()
_current: dict[int, ConfirmingPublisher | LockedPublisher] = {}  # by pid: never across a fork
_last_failure: tuple[float, str] = (0.0, "")


def _broker_url() -> str:
    """The broker's node list, starting at a node picked by pid: web processes spread over
    a cluster's nodes, and each still fails over to the others."""
    nodes = app.conf.broker_write_url.split(";")
    start = os.getpid() % len(nodes)
    return ";".join(nodes[start:] + nodes[:start])


def _open(timeout: float) -> ConfirmingPublisher | LockedPublisher:
    # Without py-amqp's confirm_publish, which makes every basic_publish wait for its own
    # confirm: the publisher's owner thread selects confirm mode and reads the acks itself.
    options = {**app.conf.broker_transport_options, "confirm_publish": False}
    connection = app.connection_for_write(url=_broker_url(), connect_timeout=timeout,
                                          heartbeat=0, transport_options=options)
    try:
        # Each node once, no pauses: a request waiting out kombu's retry intervals is worse
        # than a 503.
        connect_any_node(connection)
        if is_amqp(connection):
            # Declares wait for replies: a broker gone silent must not hang the process.
            connection.connection.sock.settimeout(timeout)
        topology_declare(connection)
        if is_amqp(connection):
            return ConfirmingPublisher(connection)
        return LockedPublisher(connection)  # the embedded filesystem broker: no confirms
    except Exception:
        close_abruptly(connection)
        raise


def publisher(timeout: float | None = None) -> ConfirmingPublisher | LockedPublisher:
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


# Protocol-2 headers that are optional, at the value a Celery worker takes when one is absent
# (celery/worker/request.py reads each with .get()). Left out, the properties shrink from 467
# to 346 bytes: 7 us less to encode in the web and 6 us less to decode in the worker and in
# analytics, per message, and fewer table headers for RabbitMQ to convert for the stream.
ABSENT_MEANS = {"shadow": None, "eta": None, "expires": None, "group_index": None,
                "retries": 0, "timelimit": [None, None], "replaced_task_nesting": 0,
                "stamped_headers": None, "stamps": {}}
_UNSET = object()


def task_message(event: PurchaseEvent) -> tuple[bytes, dict, dict]:
    """(body, headers, properties) of the Celery task message that carries the event."""
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
    headers = {name: value for name, value in message.headers.items()
               if ABSENT_MEANS.get(name, _UNSET) != value}
    return body.encode(), headers, properties


def event_publish(*, event: PurchaseEvent, analytics_only: bool = False) -> None:
    """Publish and return only once the broker confirmed it; else raise PublishFailed.

    analytics_only: straight to the analytics stream, not through the fanout (sync mode,
    where the row is already written).
    """
    body, headers, properties = task_message(event)
    timeout = settings.TIGLE_PUBLISH_TIMEOUT
    started = time.perf_counter()
    try:
        publisher(timeout).publish(
            body=body, headers=headers, properties=properties, timeout=timeout,
            routing=("", ANALYTICS_STREAM) if analytics_only else (EXCHANGE, DB_QUEUE))
    except PublishFailed as exc:
        log.warning("publish of %s failed: %s", event.id, exc)
        raise
    finally:
        # Failures too: a 503 after a confirm timeout is latency a store saw.
        PUBLISH_SECONDS.observe(time.perf_counter() - started)


def broker_check() -> str | None:
    """None when this process can publish, else why not."""
    try:
        publisher()
    except PublishFailed as exc:
        return str(exc)
    return None
