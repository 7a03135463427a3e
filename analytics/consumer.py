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


class StreamLost(Exception):
    """The stream no longer holds what was applied: retention removed it, or it was recreated.

    resume is the offset to read on from once the matrix is rebuilt from the database.
    """

    def __init__(self, reason: str, resume: int) -> None:
        super().__init__(reason)
        self.resume = resume


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
        self._last_key = state.last_key
        # While catching up after a rebuild: ids already counted from the database.
        self.already_counted: Callable[[list[str]], set[str]] | None = None

    @property
    def pending(self) -> int:
        return self.handled - self.state.last_offset

    def attach_offset(self) -> int:
        """Where to attach to the stream: at the last offset handled, which must still be there.

        Offsets inside a stream are not contiguous (each segment starts with a record no
        consumer sees), so a jump between deliveries means nothing; only the first delivery
        after attaching tells whether the stream still holds what was asked for.
        """
        start = max(self.handled, 0)
        # While catching up after a rebuild, the database covers whatever the stream lost.
        self._attached_at = start if self.already_counted is None else None
        return start

    def handle(self, body: bytes, offset: int) -> None:
        """One delivery at a stream offset; a redelivered offset changes nothing."""
        try:
            event = event_decode(body)
        except EventError as exc:
            event, error = None, exc
        if self._attached_at is not None:
            self._attach_check(offset, event)
        if offset <= self.handled:
            return
        self.handled = offset
        self._last_key = None if event is None else purchase_key(event)
        if event is None:
            # Not ours to fix or retry: the database worker parks such messages.
            log.warning("offset %d skipped: %s", offset, error)
        else:
            self._pending.append(event)

    def _attach_check(self, offset: int, event: PurchaseEvent | None) -> None:
        attached_at, self._attached_at = self._attached_at, None
        if offset > attached_at:
            raise StreamLost(f"expected offset {attached_at}, the stream starts at {offset}",
                             resume=offset)
        expected = self.state.last_key
        if offset == self.state.last_offset and expected is not None and (
                event is None or purchase_key(event) != expected):
            raise StreamLost(f"offset {offset} holds another message than the one applied: "
                             "the stream was recreated", resume=0)

    def flush(self) -> int:
        """Apply everything handled; returns how many purchases were counted."""
        if self.handled == self.state.last_offset:
            return 0
        counted: set[str] = set()
        if self.already_counted is not None and self._pending:
            counted = self.already_counted([event.id for event in self._pending])
        recent = self.state.recent
        fresh = []
        for event in self._pending:
            key = purchase_key(event)
            # The same purchase published twice counts once, also when the database counted it.
            if key not in recent and event.id not in counted:
                fresh.append((event.store_id, event.items))
            recent.add(key)
        self.state.matrix.apply(fresh)
        self.state.last_offset, self.state.last_key = self.handled, self._last_key
        self._pending = []
        return len(fresh)

    def restart_from(self, state: State) -> None:
        """Continue on another state (a rebuild); what was buffered is dropped with the old."""
        self.state = state
        self.handled = state.last_offset
        self._pending = []
        self._attached_at = None
        self._last_key = state.last_key
