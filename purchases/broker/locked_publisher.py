"""The embedded filesystem broker's publisher: it has no confirms, so one publish at a time."""
from __future__ import annotations

import threading

from kombu import Connection, Producer

from purchases.broker.publisher import PublishFailed, close_abruptly


class LockedPublisher:
    """One publish at a time through kombu's Producer: the embedded filesystem broker."""

    broken: str | None = None

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._producer = Producer(connection.default_channel, auto_declare=False)
        self._lock = threading.Lock()

    def publish(self, *, body: bytes, headers: dict, properties: dict, timeout: float,
                routing: tuple[str, str]) -> None:
        exchange, routing_key = routing
        try:
            with self._lock:
                self._producer.publish(body, exchange=exchange, routing_key=routing_key,
                                       headers=headers, retry=False, mandatory=True,
                                       timeout=timeout, **properties)
        except Exception as exc:
            self.close(repr(exc))
            raise PublishFailed(repr(exc)) from exc

    def close(self, reason: str) -> None:
        self.broken = reason
        close_abruptly(self.connection)
