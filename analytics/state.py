"""What analytics keeps and checkpoints: the matrix, the last stream offset applied, and the
purchase ids seen lately."""
from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from analytics.matrix import Matrix

# An Idempotency-Key retry republishes a purchase whose first publish had no confirm; the two
# copies reach the stream seconds apart, so a window of recent ids is enough to count it once.
RECENT_IDS = 500_000


class RecentIds:
    """A bounded set of 16-byte purchase ids: the oldest leaves when a new one comes in."""

    def __init__(self, capacity: int = RECENT_IDS, ids: Iterable[bytes] = ()) -> None:
        self.capacity = capacity
        self._order: deque[bytes] = deque()
        self._ids: set[bytes] = set()
        for purchase_id in ids:
            self.add(purchase_id)

    def __contains__(self, purchase_id: bytes) -> bool:
        return purchase_id in self._ids

    def __len__(self) -> int:
        return len(self._order)

    def __iter__(self):
        return iter(self._order)

    def add(self, purchase_id: bytes) -> None:
        if purchase_id in self._ids:
            return
        self._order.append(purchase_id)
        self._ids.add(purchase_id)
        if len(self._order) > self.capacity:
            self._ids.discard(self._order.popleft())


@dataclass
class State:
    matrix: Matrix = field(default_factory=Matrix)
    # The last stream offset whose purchase is in the matrix; -1 before the first.
    last_offset: int = -1
    # The id of the purchase at last_offset (None if that message was none): a stream that
    # holds another one there was recreated.
    last_key: bytes | None = None
    recent: RecentIds = field(default_factory=RecentIds)
