"""From stream deliveries to matrix updates: each offset once, each purchase id once.

handle() takes one delivery and flush() applies what was handled, so a test can drive the
consumer one message at a time; analytics/stream.py feeds it from the broker.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable

from analytics.state import State
from purchases.events import EventError, PurchaseEvent, event_from_dict

log = logging.getLogger(__name__)


class StreamGap(Exception):
    """The stream no longer holds the offset the consumer attached at: retention removed it."""

    def __init__(self, expected: int, got: int) -> None:
        super().__init__(f"expected offset {expected}, the stream starts at {got}")
        self.expected, self.got = expected, got


def event_decode(body: bytes) -> PurchaseEvent:
    """The purchase event inside a Celery protocol-2 JSON task message: [args, kwargs, embed]."""
    try:
        args = json.loads(body)[0]
        return event_from_dict(args[0])
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise EventError(f"not a purchase task message: {exc}") from None


def purchase_key(event: PurchaseEvent) -> bytes:
    return bytes.fromhex(event.id.replace("-", ""))


class Consumer:
    """Buffers handled deliveries; flush() applies them and moves the offset in one step."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.handled = state.last_offset  # the highest offset handled, applied or buffered
        self._pending: list[PurchaseEvent] = []
        self._attached_at: int | None = None
        # While catching up after a rebuild: ids already counted from the database.
        self.already_counted: Callable[[list[str]], set[str]] | None = None

    @property
    def pending(self) -> int:
        return self.handled - self.state.last_offset

    def attach_offset(self) -> int:
        """Where to attach to the stream: at the last offset handled, which must still be there.

        Offsets inside a stream are not contiguous (each segment starts with a record no
        consumer sees), so a jump between deliveries means nothing; only the first delivery
        after attaching tells whether retention removed what was asked for.
        """
        self._attached_at = max(self.handled, 0)
        return self._attached_at

    def handle(self, body: bytes, offset: int) -> None:
        """One delivery at a stream offset; a redelivered offset changes nothing."""
        if self._attached_at is not None:
            attached_at, self._attached_at = self._attached_at, None
            if offset > attached_at:
                raise StreamGap(attached_at, offset)
        if offset <= self.handled:
            return
        self.handled = offset
        try:
            self._pending.append(event_decode(body))
        except EventError as exc:
            # Not ours to fix or retry: the database worker parks such messages.
            log.warning("offset %d skipped: %s", offset, exc)

    def flush(self) -> int:
        """Apply everything handled; returns how many purchases were counted."""
        if self.handled == self.state.last_offset:
            return 0
        events = self._pending
        if self.already_counted is not None and events:
            counted = self.already_counted([event.id for event in events])
            events = [event for event in events if event.id not in counted]
        recent = self.state.recent
        fresh = []
        for event in events:
            key = purchase_key(event)
            if key not in recent:  # the same purchase published twice counts once
                recent.add(key)
                fresh.append((event.store_id, event.items))
        self.state.matrix.apply(fresh)
        self.state.last_offset = self.handled
        self._pending = []
        return len(fresh)

    def restart_from(self, state: State) -> None:
        """Continue on another state (a rebuild); what was buffered is dropped with the old."""
        self.state = state
        self.handled = state.last_offset
        self._pending = []
        self._attached_at = None
