"""The items x stores counter matrix: store-major rows that grow, top-N queries. No I/O.

One int32 row per store that has sold anything, its items contiguous, so a store's top items
scan one vector. Items get columns in the order they are first seen, so an item id of any size
costs one column and an unsold item costs nothing. A row is promoted to int64 only when one of
its counts would overflow int32.

Each store also keeps its leaders: the columns of its best-selling items, ranked. Counts only
grow, so an item can join them only when its own count grows, and most batches need one
comparison per store to tell that none did; a top-items query for up to that many items then
reads them instead of scanning the row. Each item likewise keeps its best stores
(best_stores.py).
"""
from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from analytics.arrays import grown, resident_zeros
from analytics.best_stores import BestStores
from analytics.matrix_snapshot import MatrixSnapshot
from analytics.ranking import ranked, top_n, top_positions

INT32_MAX = int(np.iinfo(np.int32).max)
# The default top-N is 10; a dashboard asking for a few more still reads the leaders.
LEADERS = 32
# The default top stores is 5; 8 leave room for a few more without the scan.
BEST_STORES = 8

# (store_id, [(item_id, quantity), ...]): one purchase as the matrix sees it.
Purchase = tuple[int, Sequence[tuple[int, int]]]


@dataclass(frozen=True)
class Totals:
    purchases: int
    units: int
    stores: int
    items: int


class Matrix:
    """Counts per (store, item). apply() and the queries may run in any threads at once.

    Each row has its own lock, held while a batch adds to it and while a query ranks it, so a
    query sees all of a purchase or none of it (a purchase belongs to one store).
    """

    def __init__(self, leaders: int = LEADERS, best_stores: int = BEST_STORES) -> None:
        self.leaders = leaders
        self._grow_lock = threading.Lock()
        self._totals_lock = threading.Lock()
        self._store_index: dict[int, int] = {}
        self._store_ids = np.zeros(64, dtype=np.int64)
        self._rows: list[np.ndarray] = []
        # Per row: the columns of its top `leaders` items by top_n's order (all its sold
        # items while it has fewer).
        self._leaders: list[np.ndarray] = []
        # Per row: (count, item id) of its last leader; (0, 0) while it has fewer, so that
        # every item it sells joins them.
        self._last_leader: list[tuple[int, int]] = []
        self._row_locks: list[threading.Lock] = []
        self._item_index: dict[int, int] = {}
        self._item_ids = np.zeros(1024, dtype=np.int64)
        self._items = 0
        # Columns every row has from its store's first sale (reserve()).
        self._reserved = 0
        self._purchases = 0
        self._units = 0
        self._best_stores = BestStores(best_stores, self._item_ids.size)
        self._snapshot: MatrixSnapshot | None = None  # a checkpoint being written

    # --- growth -------------------------------------------------------------------------

    def _item_column(self, item_id: int) -> int:
        column = self._item_index.get(item_id)
        if column is None:
            with self._grow_lock:
                column = self._item_index.get(item_id)
                if column is None:
                    column = self._items
                    if column == self._item_ids.size:
                        self._item_ids = grown(self._item_ids, column * 2)
                        self._best_stores.grow(column * 2)
                    self._item_ids[column] = item_id
                    self._items = column + 1
                    # Published last: a reader that finds the column also finds its id.
                    self._item_index[item_id] = column
        return column

    def _store_row(self, store_id: int) -> int:
        index = self._store_index.get(store_id)
        if index is None:
            with self._grow_lock:
                index = self._store_index.get(store_id)
                if index is None:
                    index = len(self._rows)
                    if index == self._store_ids.size:
                        self._store_ids = grown(self._store_ids, index * 2)
                    self._store_ids[index] = store_id
                    self._row_locks.append(threading.Lock())
                    self._rows.append(resident_zeros(self._reserved))
                    self._leaders.append(np.zeros(0, dtype=np.int64))
                    self._last_leader.append((0, 0))
                    self._store_index[store_id] = index
        return index

    def _row_capacity(self, row: np.ndarray, needed: int) -> int:
        # Grow by half again, but not far past the items known, so a full matrix stays close
        # to stores x items x 4 bytes.
        return max(needed, min(row.size * 3 // 2 + 1024, self._items + self._items // 8 + 1024))

    def reserve(self, items: int) -> None:
        """Room for `items` item columns in every row, the rows there are and those to come:
        memory is then stores x items from each store's first sale instead of growing as new
        items appear, so a host is sized once (ANALYTICS_ITEMS). Past `items`, rows grow."""
        with self._grow_lock:
            self._reserved = items
            if items > self._item_ids.size:
                self._item_ids = grown(self._item_ids, items)
                self._best_stores.grow(items)
            for index in range(len(self._rows)):
                with self._row_locks[index]:
                    row = self._rows[index]
                    if row.size < items:
                        wider = resident_zeros(items, row.dtype)
                        wider[: row.size] = row
                        self._rows[index] = wider

    # --- updates ------------------------------------------------------------------------

    def apply(self, purchases: Iterable[Purchase]) -> None:
        """Add a batch of purchases; each store's share is added under that store's lock."""
        per_store: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        count = 0
        for store_id, items in purchases:
            counts = per_store[self._store_row(store_id)]
            for item_id, quantity in items:
                counts[self._item_column(item_id)] += quantity
            count += 1
        self._add(per_store, count)

    def add_counts(self, counts: Iterable[tuple[int, int, int]]) -> None:
        """Add (store_id, item_id, quantity) totals that belong to no purchase counted here."""
        per_store: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        for store_id, item_id, quantity in counts:
            per_store[self._store_row(store_id)][self._item_column(item_id)] += quantity
        self._add(per_store, 0)

    def set_purchases(self, purchases: int) -> None:
        with self._totals_lock:
            self._purchases = purchases

    def _add(self, per_store: dict[int, dict[int, int]], purchases: int) -> None:
        units = 0
        touched, counted = [], []
        for index, counts in per_store.items():
            columns = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
            added = np.fromiter(counts.values(), dtype=np.int64, count=len(counts))
            touched.append(columns)
            counted.append(self._row_add(index, columns, added))
            units += int(added.sum())
        if touched:
            stores = self._store_ids[np.fromiter(per_store, dtype=np.int64, count=len(per_store))]
            self._best_stores.add(np.concatenate(touched), np.concatenate(counted),
                                  np.repeat(stores, [columns.size for columns in touched]))
        with self._totals_lock:
            self._purchases += purchases
            self._units += units

    def _row_add(self, index: int, columns: np.ndarray, added: np.ndarray) -> np.ndarray:
        """Add to one row; returns the columns' new counts."""
        with self._row_locks[index]:
            row = self._rows[index]
            snapshot = self._snapshot
            if snapshot is not None:
                snapshot.keep(index, row)
            needed = int(columns.max()) + 1
            if needed > row.size:
                row = grown(row, self._row_capacity(row, needed))
            counts = row[columns].astype(np.int64) + added
            top = int(counts.max())
            if row.dtype == np.int32 and top > INT32_MAX:
                row = row.astype(np.int64)
            row[columns] = counts
            # Outside the leaders nothing ranks above the last of them, and counts only grow:
            # only a column that grew to the last leader's count or past it can join them or
            # reorder them (a leader that grew is past it). Most batches reach neither.
            count, item_id = self._last_leader[index]
            if top > count or (top == count and int(
                    self._item_ids[columns[counts == count]].min()) < item_id):
                self._leaders_rank(index, row, columns[counts >= max(count, 1)])
            # One reference swap: a reader holds either the old row or the new one.
            self._rows[index] = row
        return counts

    def _leaders_rank(self, index: int, row: np.ndarray, joining: np.ndarray) -> None:
        leaders = np.union1d(self._leaders[index], joining)
        self._leaders_set(index, row, ranked(row, self._item_ids, leaders)[: self.leaders])

    def _leaders_set(self, index: int, row: np.ndarray, leaders: np.ndarray) -> None:
        """leaders: the row's best columns, already ranked."""
        self._leaders[index] = leaders
        if leaders.size == self.leaders:
            ids = self._item_ids
            self._last_leader[index] = (int(row[leaders[-1]]), int(ids[leaders[-1]]))

    # --- queries ------------------------------------------------------------------------

    def top_items(self, store_id: int, n: int) -> list[tuple[int, int]]:
        """(item_id, quantity) of the store's n best-selling items."""
        index = self._store_index.get(store_id)
        if index is None:
            return []
        with self._row_locks[index]:
            row = self._rows[index]
            if n <= self.leaders:
                picked = self._leaders[index][:n]
                return list(zip(self._item_ids[picked].tolist(), row[picked].tolist()))
            width = min(row.size, self._items)
            return top_n(row[:width], self._item_ids[:width], n)

    def top_stores(self, item_id: int, n: int) -> list[tuple[int, int]]:
        """(store_id, quantity) of the n stores that sold most of the item."""
        column = self._item_index.get(item_id)
        if column is None:
            return []
        if n <= self._best_stores.kept:
            return self._best_stores.top(column, n)
        rows = self._rows[:]  # later stores, added meanwhile, are not part of this answer
        store_ids = self._store_ids[: len(rows)]
        # One cell per store: each is read whole, so no purchase is seen in part.
        values = np.fromiter(
            (row[column] if column < row.size else 0 for row in rows),
            dtype=np.int64, count=len(rows),
        )
        return top_n(values, store_ids, n)

    def totals(self) -> Totals:
        with self._totals_lock:
            return Totals(self._purchases, self._units, len(self._rows), self._items)

    # --- checkpoints (call from the thread that applies, so no batch is half in) -------

    def snapshot(self) -> MatrixSnapshot:
        """The matrix as it stands, rows trimmed to the known items, to read row by row while
        batches go on; one at a time, closed when read."""
        if self._snapshot is not None:
            raise RuntimeError("a snapshot of this matrix is still open")
        items, rows = self._items, self._rows
        self._snapshot = MatrixSnapshot(
            store_ids=self._store_ids[: len(rows)].tolist(),
            item_ids=self._item_ids[:items].copy(),
            shapes=[(min(row.size, items), row.dtype) for row in rows],
            purchases=self._purchases, units=self._units,
            live_row=lambda index: self._rows[index], locks=self._row_locks,
            on_close=self._snapshot_closed)
        return self._snapshot

    def _snapshot_closed(self, snapshot: MatrixSnapshot) -> None:
        if self._snapshot is snapshot:
            self._snapshot = None

    @classmethod
    def restore(cls, store_ids: Sequence[int], item_ids: np.ndarray, rows: list[np.ndarray],
                purchases: int, units: int, *, leaders: int = LEADERS,
                best_stores: int = BEST_STORES) -> Matrix:
        matrix = cls(leaders, best_stores)
        matrix._item_ids = grown(item_ids.astype(np.int64), max(1024, item_ids.size))
        matrix._items = item_ids.size
        matrix._item_index = {item: column for column, item in enumerate(item_ids.tolist())}
        matrix._store_ids = grown(np.asarray(store_ids, dtype=np.int64), max(64, len(store_ids)))
        matrix._store_index = {store: index for index, store in enumerate(store_ids)}
        matrix._rows = list(rows)
        # One scan per row now (about a millisecond each at 100,000 items), none per query.
        matrix._leaders = [np.zeros(0, dtype=np.int64) for _ in rows]
        matrix._last_leader = [(0, 0) for _ in rows]
        for index, row in enumerate(rows):
            matrix._leaders_set(index, row, top_positions(row, matrix._item_ids[: row.size],
                                                          leaders))
        matrix._row_locks = [threading.Lock() for _ in rows]
        matrix._purchases, matrix._units = purchases, units
        matrix._best_stores = BestStores.from_rows(
            best_stores, matrix._item_ids.size, matrix._rows, matrix._store_ids[: len(rows)],
            matrix._items)
        return matrix
