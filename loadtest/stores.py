"""The seed's store day and its time-zone phases; plain Python, no Locust, no I/O.

A store is open 9 hours and sends numPurchases purchases an hour, one after another. A quarter
of the stores (East) open at once; Central opens when any store has finished its 3rd hour,
West when any store has finished its 5th.
"""
from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

HOURS = 9
PHASES = ("East", "Central", "West")
# A phase opens when any running store has finished this hour.
OPENS_AFTER_HOUR = {"Central": 3, "West": 5}


@dataclass(frozen=True)
class DayParams:
    max_stores: int
    num_customers: int = 1000
    max_item_id: int = 100_000
    num_purchases: int = 300
    items_per_purchase: int = 5
    date: str = "20210101"


def phase_of(store_id: int, max_stores: int) -> str:
    """East is the first quarter (at least one store), Central the next, West the rest."""
    east = max(1, max_stores // 4)
    if store_id <= east:
        return "East"
    return "Central" if store_id <= east + max_stores // 4 else "West"


def purchase_draw(store_id: int, params: DayParams, rng: random.Random) -> tuple[int, list[int]]:
    """(custID, ItemIDs) drawn as the seed did: custID in [storeID*1000, +numCustomers),
    each ItemID in [1, maxItemID)."""
    customer = store_id * 1000 + rng.randrange(params.num_customers)
    items = [rng.randrange(1, params.max_item_id) for _ in range(params.items_per_purchase)]
    return customer, items


def store_day(store_id: int, params: DayParams, rng: random.Random,
              start: int = 0) -> Iterator[tuple[int, int, list[int]]]:
    """(hour, custID, ItemIDs) for each purchase of the store's day from the start-th on."""
    for position in range(start, HOURS * params.num_purchases):
        yield (position // params.num_purchases + 1, *purchase_draw(store_id, params, rng))


@dataclass
class Schedule:
    """The truth about the day, kept in one process: who runs which store and how far it got,
    which phases are open, which stores have closed.

    A store whose user stops mid-day (Locust re-spreads users when a worker joins or leaves)
    comes back here with how far it got, and the next claim takes it up from there.
    """

    max_stores: int
    next_store: int = 1
    open_phases: dict[str, float] = field(default_factory=dict)  # phase -> when it opened
    closed: set[int] = field(default_factory=set)
    holders: dict[int, str] = field(default_factory=dict)  # store -> the process running it
    progress: dict[int, int] = field(default_factory=dict)  # store -> purchases recorded
    returned: deque[int] = field(default_factory=deque)

    def start(self, now: float) -> None:
        self.open_phases.setdefault("East", now)

    def claim(self, holder: str) -> tuple[int, int] | None:
        """(store, purchases it already made) for a user with nothing to do, or None."""
        if self.returned:
            store = self.returned.popleft()
        elif self.next_store <= self.max_stores:
            store, self.next_store = self.next_store, self.next_store + 1
        else:
            return None
        self.holders[store] = holder
        return store, self.progress.get(store, 0)

    def hour_done(self, store: int, hour: int, position: int, now: float) -> list[str]:
        """Record a finished hour; returns the phases it opens."""
        self.progress[store] = position
        if hour == HOURS:
            self.holders.pop(store, None)
            self.closed.add(store)
        opened = [phase for phase, after in OPENS_AFTER_HOUR.items()
                  if hour >= after and phase not in self.open_phases]
        for phase in opened:
            self.open_phases[phase] = now
        return opened

    def store_release(self, store: int, position: int) -> None:
        """A user stopped mid-day: the store waits for the next claim."""
        self.progress[store] = position
        if self.holders.pop(store, None) is not None:
            self.returned.append(store)

    def holders_lost(self, alive: Iterable[str]) -> list[int]:
        """Stores held by processes that are gone; they resume at their last finished hour."""
        alive = set(alive)
        lost = [store for store, holder in self.holders.items() if holder not in alive]
        for store in lost:
            self.store_release(store, self.progress.get(store, 0))
        return lost

    @property
    def day_over(self) -> bool:
        return len(self.closed) >= self.max_stores
