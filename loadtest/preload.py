"""A full-size analytics state for the query benchmark: every item sold in every store.

Selling 100,000 items in each of 1,024 stores through the API would take 100 million
purchases; the benchmark instead writes the checkpoint analytics would have written after
them (random counts), starts analytics on it, and runs the live ingest on top. The checkpoint
says no stream offset was applied yet, so analytics adds the whole live stream to it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from analytics.checkpoint import checkpoint_save
from analytics.matrix import Matrix
from analytics.state import State


def matrix_preload(state_dir: Path, *, stores: int, items: int, seed: int = 1) -> int:
    """Write the checkpoint into state_dir; returns the purchases it stands for."""
    generator = np.random.default_rng(seed)
    rows = [generator.integers(1, 50, size=items, dtype=np.int32) for _ in range(stores)]
    units = int(sum(int(row.sum(dtype=np.int64)) for row in rows))
    purchases = units // 5  # the seed's five items per purchase
    matrix = Matrix.restore(list(range(1, stores + 1)), np.arange(1, items + 1, dtype=np.int64),
                            rows, purchases, units)
    checkpoint_save(State(matrix=matrix), state_dir)
    return purchases
