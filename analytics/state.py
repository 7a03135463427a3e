"""What analytics keeps and checkpoints: the matrix, the last stream offset applied, and the
purchase ids seen lately."""
from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice

from analytics.matrix import Matrix

# An Idempotency-Key retry republishes a purchase whose first publish had no confirm; the two
# copies reach the stream seconds apart, so a window of recent ids is enough to count it once.
RECENT_IDS = 500_000


class RecentIds:
    """A bounded set of 16-byte purchase ids: the oldest leaves when a new one comes in.

    The window starts full of filler ids, so it takes all its memory at start and a long run's
    memory stays flat instead of growing until the window first fills. Fillers are uuids of
    version 0, which no purchase id (uuid4) can equal, and they are never checkpointed.
    """

    def __init__(self, capacity: int = RECENT_IDS, ids: Iterable[bytes] = ()) -> None:
        self.capacity = capacity
        real = deque(ids, maxlen=capacity)
        self._fillers = capacity - len(real)
        self._order: deque[bytes] = deque(_fillers(self._fillers))
        self._order.extend(real)
        self._ids: set[bytes] = set(self._order)

    def __contains__(self, purchase_id: bytes) -> bool:
        return purchase_id in self._ids

    def __len__(self) -> int:
        return len(self._order) - self._fillers

    def __iter__(self):
        return islice(self._order, self._fillers, None)

    def add(self, purchase_id: bytes) -> None:
        if purchase_id in self._ids:
            return
        self._order.append(purchase_id)
        self._ids.add(purchase_id)
        if len(self._order) > self.capacity:
            self._ids.discard(self._order.popleft())
            if self._fillers:
                self._fillers -= 1


def _fillers(count: int) -> Iterator[bytes]:
    # uuid layout: the version is the high nibble of byte 6, here 0.
    return (bytes(8) + n.to_bytes(8, "big") for n in range(count))


@dataclass
class State:
    matrix: Matrix = field(default_factory=Matrix)
    # The last stream offset whose purchase is in the matrix; -1 before the first.
    last_offset: int = -1
    # The id of the purchase at last_offset (None if that message was none): a stream that
    # holds another one there was recreated.
    last_key: bytes | None = None
    recent: RecentIds = field(default_factory=RecentIds)
