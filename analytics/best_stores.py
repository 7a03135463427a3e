"""Each item's best stores, kept as the counts grow, for top-stores queries. No I/O.

Per item column: the store ids and counts of its `kept` best stores, best first (count 0: a
free place), and the last place's count, which a store's count must reach to join (0 while
there are free places). A query reads a few numbers instead of one cell in every store's row
(a cache miss each: 1,024 of them took 0.1-4 ms). The lock covers writes and reads, so that a
query never pairs a store with another store's count.
"""
from __future__ import annotations

import threading

import numpy as np

from analytics.arrays import grown


class BestStores:
    def __init__(self, kept: int, capacity: int) -> None:
        self.kept = kept
        self._lock = threading.Lock()
        self._store_ids = np.zeros((capacity, kept), dtype=np.int64)
        self._counts = np.zeros((capacity, kept), dtype=np.int64)
        self._floor = np.zeros(capacity, dtype=np.int64)

    def grow(self, capacity: int) -> None:
        """Room for columns up to capacity (the matrix's item ids grew)."""
        with self._lock:
            self._store_ids = grown(self._store_ids, capacity)
            self._counts = grown(self._counts, capacity)
            self._floor = grown(self._floor, capacity)

    def top(self, column: int, n: int) -> list[tuple[int, int]]:
        """(store_id, count) of the column's n best stores; n at most kept."""
        with self._lock:
            ids = self._store_ids[column, :n].tolist()
            counts = self._counts[column, :n].tolist()
        return [(s, c) for s, c in zip(ids, counts) if c > 0]

    def add(self, columns: np.ndarray, counts: np.ndarray, stores: np.ndarray) -> None:
        """A batch's new (column, count, store id) cells into each item's best stores.

        Only a cell that reached its item's floor can join or move them, and a best store's
        own count always does, so theirs stay exact. A floor read before another thread
        raised it only lets more cells through. Then one merge for the whole batch.
        """
        reaching = counts >= self._floor[columns]
        if not reaching.any():
            return
        columns, counts, stores = columns[reaching], counts[reaching], stores[reaching]
        kept = self.kept
        with self._lock:
            merged = np.unique(columns)
            columns = np.concatenate((np.repeat(merged, kept), columns))
            counts = np.concatenate((self._counts[merged].ravel(), counts))
            stores = np.concatenate((self._store_ids[merged].ravel(), stores))
            # Free places out; then each (column, store) once, at its largest count: counts
            # only grow, so that is the newest.
            used = counts > 0
            columns, counts, stores = columns[used], counts[used], stores[used]
            order = np.lexsort((-counts, stores, columns))
            columns, counts, stores = columns[order], counts[order], stores[order]
            first = np.ones(columns.size, dtype=bool)
            first[1:] = (columns[1:] != columns[:-1]) | (stores[1:] != stores[:-1])
            columns, counts, stores = columns[first], counts[first], stores[first]
            # Each column's stores ranked (count descending, ties by the lower id); the
            # first `kept` of each go back in place.
            order = np.lexsort((stores, -counts, columns))
            columns, counts, stores = columns[order], counts[order], stores[order]
            group = np.searchsorted(merged, columns)
            rank = np.arange(columns.size) - np.searchsorted(columns, columns)
            kept_here = rank < kept
            best_counts = np.zeros((merged.size, kept), dtype=np.int64)
            best_ids = np.zeros((merged.size, kept), dtype=np.int64)
            best_counts[group[kept_here], rank[kept_here]] = counts[kept_here]
            best_ids[group[kept_here], rank[kept_here]] = stores[kept_here]
            self._counts[merged] = best_counts
            self._store_ids[merged] = best_ids
            self._floor[merged] = best_counts[:, kept - 1]

    @classmethod
    def from_rows(cls, kept: int, capacity: int, rows: list[np.ndarray], store_ids: np.ndarray,
                  items: int) -> BestStores:
        """Each item's best stores from the rows, each row merged into every item's list at
        once. The rows go busiest first, so the floors rise early and few cells of the later
        rows reach them (rows in an unlucky order would make every cell move a list)."""
        best_stores = cls(kept, capacity)
        counts, ids = best_stores._counts, best_stores._store_ids
        # The last place's count (the floor) and store, contiguous; reach: the count that can
        # take it.
        last = best_stores._floor
        last_id = np.zeros(capacity, dtype=np.int64)
        reach = np.ones(capacity, dtype=np.int64)
        places = np.arange(kept)
        busiest = np.argsort([-int(row.sum(dtype=np.int64)) for row in rows], kind="stable")
        for index in busiest.tolist():
            row, store_id = rows[index][:items], int(store_ids[index])
            reaching = np.flatnonzero(row >= reach[: row.size])
            count = row[reaching].astype(np.int64)
            # A tie takes the last place only from a higher store id.
            beats = (count > last[reaching]) | (store_id < last_id[reaching])
            beating, count = reaching[beats], count[beats]
            if not beating.size:
                continue
            best, stores = counts[beating], ids[beating]
            place = ((best > count[:, None]) |
                     ((best == count[:, None]) & (stores < store_id))).sum(axis=1)
            after = places > place[:, None]
            best[:, 1:] = np.where(after[:, 1:], best[:, :-1], best[:, 1:])
            stores[:, 1:] = np.where(after[:, 1:], stores[:, :-1], stores[:, 1:])
            taken = np.arange(beating.size)
            best[taken, place] = count
            stores[taken, place] = store_id
            counts[beating], ids[beating] = best, stores
            last[beating], last_id[beating] = best[:, -1], stores[:, -1]
            reach[beating] = np.maximum(best[:, -1], 1)
        return best_stores
