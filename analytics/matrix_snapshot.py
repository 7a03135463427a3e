"""The matrix as it stood at one moment, read row by row while batches go on being applied.

A checkpoint of a full matrix (400 MiB at 100,000 items x 1,024 stores) takes seconds to write
and sync. Rather than stop the stream for that long, or copy the whole matrix first, the
snapshot copies a row only when it must: the writer copies each row under the row's lock as
it comes to it, and a batch that is about to change a row the writer has not reached yet
first keeps a copy of it as it was (Matrix._row_add calls keep()). Memory beyond the matrix
is then the rows that change before they are written: few on a quiet stream, up to about a
second matrix when every store sells during the write.
"""
from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np


class MatrixSnapshot:
    """Taken by Matrix.snapshot() in the thread that applies; read by any one thread."""

    def __init__(self, *, store_ids: list[int], item_ids: np.ndarray,
                 shapes: list[tuple[int, np.dtype]], purchases: int, units: int,
                 live_row: Callable[[int], np.ndarray], locks: list[threading.Lock],
                 on_close: Callable[[MatrixSnapshot], None]) -> None:
        self.store_ids = store_ids
        self.item_ids = item_ids
        # (width, dtype) of each row when taken: what the reader of the snapshot gets.
        self.shapes = shapes
        self.purchases = purchases
        self.units = units
        self._live_row = live_row
        self._locks = locks
        self._on_close = on_close
        self._unread = set(range(len(shapes)))  # rows still as they were, in the matrix
        self._kept: dict[int, np.ndarray] = {}  # rows changed since, as they were
        self.kept_most = 0  # how many kept copies were held at once: the memory it cost

    def keep(self, index: int, row: np.ndarray) -> None:
        """Before a change to row index (the caller holds its lock): keep it as it was."""
        if index in self._unread:
            self._unread.discard(index)
            self._kept[index] = row[: self.shapes[index][0]].copy()
            self.kept_most = max(self.kept_most, len(self._kept))

    def row(self, index: int) -> np.ndarray:
        """Row index as it was when the snapshot was taken; each row once."""
        with self._locks[index]:
            kept = self._kept.pop(index, None)
            if kept is not None:
                return kept
            if index not in self._unread:
                raise ValueError(f"row {index} was read already")
            self._unread.discard(index)
            return self._live_row(index)[: self.shapes[index][0]].copy()

    def close(self) -> None:
        """Done reading: batches stop keeping copies for it."""
        self._on_close(self)
        self._unread = set()
        self._kept = {}

    def __enter__(self) -> MatrixSnapshot:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
