"""The web process's publisher where confirms cannot be pipelined: one publish at a time.

The embedded filesystem broker has no confirms, and one TLS socket must not be read and
written by two threads at once; over plain AMQP the web uses ConfirmPipeline instead.
"""
from __future__ import annotations

import threading

from kombu import Connection, Producer

from purchases.confirm_pipeline import PublishFailed, close_abruptly
from purchases.events import DB_QUEUE, EXCHANGE
from tigle_project.answer_later import Confirmation


class LockedPublisher:
    """One publish at a time through kombu: the filesystem broker, and AMQP over TLS."""

    broken: str | None = None

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._producer = Producer(connection.default_channel, auto_declare=False)
        self._lock = threading.Lock()

    def publish(self, *, body: bytes, headers: dict, properties: dict, timeout: float,
                routing: tuple[str, str] = (EXCHANGE, DB_QUEUE),
                confirmation: Confirmation | None = None) -> None:
        exchange, routing_key = routing
        try:
            with self._lock:
                self._producer.publish(body, exchange=exchange, routing_key=routing_key,
                                       headers=headers, retry=False, mandatory=True,
                                       timeout=timeout, confirm_timeout=timeout, **properties)
        except Exception as exc:
            self.close(repr(exc))
            raise PublishFailed(repr(exc)) from exc
        if confirmation is not None:
            confirmation.settle(None)

    def close(self, reason: str) -> None:
        self.broken = reason
        close_abruptly(self.connection)
