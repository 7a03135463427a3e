"""The embedded mode's queue: kombu's filesystem broker folder, read and bound without kombu.

kombu's JSON module imports a piece of Django whenever Django is installed, and analytics never
imports Django. So analytics reads the folder in the layout kombu's filesystem transport writes
(kombu/transport/filesystem.py of KOMBU_VERSION; analytics/tests/test_kombu_compat.py fails on
another version): one JSON file per message, named "<time>_<uuid>.<queue>.msg", its body in
base64; and an exchange's bindings as a JSON list of [routing_key, pattern, queue] in
"<control folder>/<exchange>.exchange", changed under an exclusive flock.
"""
from __future__ import annotations

import base64
import fcntl
import json
import logging
import os
import time
import uuid
from pathlib import Path

from analytics.broker import OnDelivery
from purchases.events import ANALYTICS_STREAM, EXCHANGE

KOMBU_VERSION = "5.6.2"
log = logging.getLogger(__name__)


def queue_bind(control: Path, exchange: str, queue: str, routing_key: str) -> None:
    """Add the binding to the exchange's table, where a publisher's fanout looks it up."""
    control.mkdir(parents=True, exist_ok=True)
    binding = [routing_key, "", queue]
    descriptor = os.open(control / f"{exchange}.exchange", os.O_RDWR | os.O_CREAT, 0o644)
    with open(descriptor, "r+b") as table:
        fcntl.flock(table, fcntl.LOCK_EX)  # kombu's lock on the same file
        raw = table.read()
        bindings = json.loads(raw) if raw.strip() else []
        if binding not in bindings:
            bindings.insert(0, binding)
            table.seek(0)
            table.truncate()
            table.write(json.dumps(bindings).encode())
        # Closing the file releases the lock.


def message_body(payload: bytes) -> bytes:
    """The message body inside one of kombu's message files."""
    message = json.loads(payload)
    body = message["body"]
    if message["properties"].get("body_encoding") == "base64":
        return base64.b64decode(body)
    return body.encode()


class FolderQueue:
    """The analytics queue in the embedded broker's folder, bound to the purchases fanout.

    A file is gone once read, as with kombu's own reader: no crash safety here (DESIGN.md).
    """

    def __init__(self, folder: Path, on_delivery: OnDelivery, limit: int) -> None:
        self._messages = folder / "queue"
        self._messages.mkdir(parents=True, exist_ok=True)
        queue_bind(folder / "control", EXCHANGE, ANALYTICS_STREAM, ANALYTICS_STREAM)
        self._on_delivery = on_delivery
        self._limit = limit
        self._suffix = f".{ANALYTICS_STREAM}.msg"

    def attach(self, start: int | str) -> None:
        """Nothing to do: a queue has no offsets."""

    def drain(self, timeout: float) -> None:
        """Deliver what the folder holds (oldest first, up to the limit); raises TimeoutError
        after waiting timeout when it holds nothing."""
        names = sorted(n for n in os.listdir(self._messages) if n.endswith(self._suffix))
        delivered = 0
        for name in names[:self._limit]:
            payload = self._take(name)
            if payload is None:
                continue
            try:
                body = message_body(payload)
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                log.warning("%s is not a kombu message file: %r", name, exc)
                body = payload  # the consumer skips it at its offset, as any unreadable message
            delivered += 1
            self._on_delivery(body, None)
        if not delivered:
            time.sleep(timeout)
            raise TimeoutError()

    def _take(self, name: str) -> bytes | None:
        """The file's bytes, taken from the folder; None when another reader took it first."""
        taken = self._messages / f".taken-{uuid.uuid4()}"
        try:
            os.rename(self._messages / name, taken)  # atomic: one reader gets each file
        except FileNotFoundError:
            return None
        payload = taken.read_bytes()
        taken.unlink()
        return payload

    def ack(self) -> None:
        """Nothing to do: each file left the folder when it was read."""

    def close(self) -> None:
        """Nothing to do: no connection."""
