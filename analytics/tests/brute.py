"""The slow, obviously right answers the matrix is checked against."""
from __future__ import annotations

from collections import Counter


def counts(purchases) -> Counter:
    totals: Counter = Counter()
    for store_id, items in purchases:
        for item_id, quantity in items:
            totals[store_id, item_id] += quantity
    return totals


def ranked(pairs, n: int) -> list[tuple[int, int]]:
    return sorted(pairs, key=lambda pair: (-pair[1], pair[0]))[:n]


def top_items(totals: Counter, store_id: int, n: int) -> list[tuple[int, int]]:
    return ranked([(i, q) for (s, i), q in totals.items() if s == store_id], n)


def top_stores(totals: Counter, item_id: int, n: int) -> list[tuple[int, int]]:
    return ranked([(s, q) for (s, i), q in totals.items() if i == item_id], n)
