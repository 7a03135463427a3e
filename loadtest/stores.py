"""The seed's store day and its time-zone phases; plain Python, no Locust, no I/O.

A store is open 9 hours and sends numPurchases purchases an hour, one after another. A quarter
of the stores (East) open at once; Central opens when any store has finished its 3rd hour,
West when any store has finished its 5th.
"""
from __future__ import annotations

import random
from collections.abc import Iterator
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


def store_day(store_id: int, params: DayParams, rng: random.Random) -> Iterator[tuple[int, int, list[int]]]:
    """(hour, custID, ItemIDs) for every purchase of the store's day, in order."""
    for hour in range(1, HOURS + 1):
        for _ in range(params.num_purchases):
            yield (hour, *purchase_draw(store_id, params, rng))


@dataclass
class Schedule:
    """The truth about the day, kept in one process: which stores are taken, which phases are
    open, which stores have closed."""

    max_stores: int
    next_store: int = 1
    open_phases: dict[str, float] = field(default_factory=dict)  # phase -> when it opened
    closed: set[int] = field(default_factory=set)

    def start(self, now: float) -> None:
        self.open_phases.setdefault("East", now)

    def claim(self) -> int | None:
        """The next store nobody runs yet; None when every store has its user."""
        if self.next_store > self.max_stores:
            return None
        self.next_store += 1
        return self.next_store - 1

    def hour_done(self, hour: int, now: float) -> list[str]:
        """Phases this finished hour opens."""
        opened = [phase for phase, after in OPENS_AFTER_HOUR.items()
                  if hour >= after and phase not in self.open_phases]
        for phase in opened:
            self.open_phases[phase] = now
        return opened

    def store_closed(self, store_id: int) -> None:
        self.closed.add(store_id)

    @property
    def day_over(self) -> bool:
        return len(self.closed) >= self.max_stores
