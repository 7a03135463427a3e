"""Ranking counts: the n largest, descending, ties by the lower id. No I/O, no state."""
from __future__ import annotations

import numpy as np


def top_n(values: np.ndarray, ids: np.ndarray, n: int) -> list[tuple[int, int]]:
    """The n largest positive values as (id, value), descending, ties by the lower id."""
    picked = top_positions(values, ids, n)
    return list(zip(ids[picked].tolist(), values[picked].tolist()))


def top_positions(values: np.ndarray, ids: np.ndarray, n: int) -> np.ndarray:
    """Where the n largest positive values are, in top_n's order.

    Linear in len(values): a partition finds the n-th largest value, and only the values at
    that threshold are ranked by id, however many share it.
    """
    candidates = np.flatnonzero(values > 0)
    if candidates.size > n:
        chosen = values[candidates]
        kth = np.partition(chosen, chosen.size - n)[chosen.size - n]
        above = candidates[chosen > kth]
        at = candidates[chosen == kth]
        need = n - above.size  # at least 1: fewer than n values exceed the n-th largest
        if at.size > need:
            at = at[np.argpartition(ids[at], need - 1)[:need]]
        candidates = np.concatenate((above, at))
    return ranked(values, ids, candidates)


def ranked(values: np.ndarray, ids: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """positions sorted by value descending, ties by the lower id."""
    return positions[np.lexsort((ids[positions], -values[positions].astype(np.int64)))]
