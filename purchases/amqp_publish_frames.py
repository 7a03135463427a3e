"""basic.publish framed without py-amqp's basic_publish: into a list, for one socket write.

Several messages' frames gather in a FrameList and go out together: RabbitMQ spends far less
CPU per message on one write of several than on a write each (loadtest/broker_probe.py).
"""
from __future__ import annotations

import functools

from amqp.serialization import dumps


@functools.lru_cache(maxsize=16)
def publish_arguments(routing: tuple[str, str]) -> bytes:
    """basic.publish's encoded arguments (mandatory): the same few routes every time."""
    return dumps("Bssbb", (0, *routing, True, False))


class FrameList:
    """The transport py-amqp's frame writer writes to: frames wait here for the next write."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def write(self, data) -> None:
        self.frames.append(bytes(data))  # the writer reuses its buffer for the next frame
