"""Checkpoints: what is saved loads back equal, and a half-written file never replaces one."""
import os
import random

import pytest

from analytics.checkpoint import (
    CheckpointError,
    checkpoint_load,
    checkpoint_path,
    checkpoint_save,
)
from analytics.matrix import Matrix
from analytics.state import RecentIds, State
from analytics.tests import brute


def state_random(seed: int = 3) -> tuple[State, list]:
    rng = random.Random(seed)
    purchases = [(rng.randint(1, 300), [(rng.randint(1, 5000), rng.randint(1, 9))])
                 for _ in range(3000)]
    matrix = Matrix()
    matrix.apply(purchases)
    matrix.apply([(7, [(1, 10**9)])] * 3)  # one row widened to int64
    ids = [rng.randbytes(16) for _ in range(100)]
    return State(matrix=matrix, last_offset=3002, recent=RecentIds(ids=ids)), purchases


def test_it_loads_back_what_it_saved(tmp_path):
    state, purchases = state_random()
    checkpoint_save(state, tmp_path)
    loaded = checkpoint_load(tmp_path)
    assert loaded.last_offset == 3002
    assert loaded.matrix.totals() == state.matrix.totals()
    assert list(loaded.recent) == list(state.recent)
    totals = brute.counts(purchases + [(7, [(1, 10**9)])] * 3)
    for store_id in range(1, 301):
        assert loaded.matrix.top_items(store_id, 10) == brute.top_items(totals, store_id, 10)
    for item_id in range(1, 5001, 37):
        assert loaded.matrix.top_stores(item_id, 5) == brute.top_stores(totals, item_id, 5)
    # A loaded matrix keeps counting and growing.
    loaded.matrix.apply([(7, [(1, 1)]), (9999, [(77777, 2)])])
    assert loaded.matrix.top_items(7, 1) == [(1, totals[7, 1] + 1)]
    assert loaded.matrix.top_stores(77777, 5) == [(9999, 2)]


def test_it_has_no_checkpoint_at_first(tmp_path):
    assert checkpoint_load(tmp_path) is None


def test_it_keeps_the_old_checkpoint_until_the_new_one_is_whole(tmp_path):
    state, _ = state_random()
    checkpoint_save(state, tmp_path)
    before = checkpoint_path(tmp_path).read_bytes()
    # A crash mid-write leaves only a temporary file beside the checkpoint.
    (tmp_path / f".matrix.ckpt.{os.getpid()}.tmp").write_bytes(before[: len(before) // 2])
    assert checkpoint_load(tmp_path).last_offset == 3002
    state.matrix.apply([(1, [(1, 1)])])
    state.last_offset = 3003
    checkpoint_save(state, tmp_path)
    assert checkpoint_load(tmp_path).last_offset == 3003
    assert [p.name for p in tmp_path.iterdir()] == ["matrix.ckpt"]


@pytest.mark.parametrize("damage", ["truncate", "extend", "garbage"])
def test_it_refuses_a_damaged_file(tmp_path, damage):
    state, _ = state_random()
    path = checkpoint_save(state, tmp_path)
    data = path.read_bytes()
    path.write_bytes({"truncate": data[:-5], "extend": data + b"x", "garbage": b"nonsense"}[damage])
    with pytest.raises(CheckpointError):
        checkpoint_load(tmp_path)
