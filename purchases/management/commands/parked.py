"""`manage.py parked`: what the worker parked and why; `--requeue` puts it back to be written.

The worker parks a message no worker can write (not a purchase, or refused by the database
for good) in purchases.db.parked, with the reason in a header, and the
`tigle_worker_queue_messages{queue="purchases.db.parked"}` alert asks for a person. Once the
cause is fixed (a column widened, say), `--requeue` moves the parked messages back into
purchases.db by the default exchange: analytics counted each purchase when it was first
published, and a copy through the fanout would reach it again. Each copy is confirmed by
the broker before its parked original is let go; a purchase already written is skipped by
the worker, and one that still cannot be written is parked again.
"""
from __future__ import annotations

import argparse
from collections.abc import Iterator

from django.core.management.base import BaseCommand, CommandError
from kombu import Connection
from kombu.message import Message

from purchases.broker.task_messages import (
    PARKED_BECAUSE,
    ParkFailed,
    event_from_message,
    message_move,
)
from purchases.broker.topology import connect_any_node, parked_queue
from purchases.events import DB_QUEUE, PARKED_QUEUE, EventError
from tigle_project.celery_app import app


def _described(message) -> str:
    """What the message is and why the worker parked it (its words, recorded then)."""
    reason = (message.headers or {}).get(PARKED_BECAUSE)
    try:
        event = event_from_message(message)
    except EventError as exc:
        return f"not a purchase: {reason or exc}"
    what = f"purchase {event.id}, store {event.store_id}, {event.date:%Y-%m-%d}"
    return f"{what}: {reason or 'no reason recorded'}"


def _count(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{raw!r}: at least 1")
    return value


class Command(BaseCommand):
    help = "List the messages parked in purchases.db.parked, or move them back to purchases.db."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--requeue", action="store_true",
                            help="move parked messages back into purchases.db to be written")
        parser.add_argument("--limit", type=_count, default=None,
                            help="with --requeue: move at most this many (default: all)")
        parser.add_argument("--show", type=_count, default=10,
                            help="how many parked messages to describe (default 10)")

    def handle(self, *args, requeue: bool, limit: int | None, show: int, **options) -> None:
        with app.connection_for_write() as connection:
            connect_any_node(connection)
            waiting = parked_queue(connection.default_channel).queue_declare(
                passive=True).message_count
            self.stdout.write(f"{waiting} message(s) parked in {PARKED_QUEUE}")
            if requeue:
                self._requeue(connection, min(waiting, limit if limit is not None else waiting))
            else:
                self._list(connection, min(waiting, show))

    def _list(self, connection: Connection, count: int) -> None:
        # Read and left unacked: closing the channel gives them back, in their order.
        for message in _parked(connection, count):
            self.stdout.write(f"  {_described(message)}")

    def _requeue(self, connection: Connection, count: int) -> None:
        # Counted at the start: a message the worker parks again meanwhile waits for the
        # next run instead of going round.
        moved = 0
        for message in _parked(connection, count):
            headers = {name: value for name, value in (message.headers or {}).items()
                       if name != PARKED_BECAUSE}
            try:
                message_move(message, DB_QUEUE, headers)
            except ParkFailed as exc:
                raise CommandError(f"moved {moved}; the next one stays parked: {exc}")
            moved += 1
        self.stdout.write(f"moved {moved} message(s) back into {DB_QUEUE}")


def _parked(connection: Connection, count: int) -> Iterator[Message]:
    """Up to count parked messages, unacked, on a channel of their own closed afterwards
    (which gives back any not acked)."""
    channel = connection.channel()
    try:
        queue = parked_queue(channel)
        for _ in range(count):
            message = queue.get(no_ack=False)
            if message is None:
                return
            yield message
    finally:
        channel.close()
