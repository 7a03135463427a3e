"""The counter matrix against brute force: random data, ties, growth, overflow, concurrency."""
import random
import subprocess
import sys
import threading
import tracemalloc

import numpy as np
from hypothesis import given, settings, strategies as st

from analytics.config import ROOT
from analytics.matrix import INT32_MAX, Matrix
from analytics.ranking import top_n
from analytics.tests import brute

purchase = st.tuples(
    st.integers(1, 12),
    st.lists(st.tuples(st.integers(1, 30), st.integers(1, 4)), min_size=1, max_size=6),
)


@settings(max_examples=200, deadline=None)
@given(batches=st.lists(st.lists(purchase, max_size=20), max_size=6), n=st.integers(1, 12),
       leaders=st.integers(1, 8), best_stores=st.integers(1, 8),
       reserve=st.tuples(st.integers(0, 6), st.integers(0, 40)))
def test_it_ranks_like_brute_force_with_ties(batches, n, leaders, best_stores, reserve):
    # Few leaders and best stores, so that n sometimes reads them and sometimes scans.
    matrix = Matrix(leaders, best_stores)
    reserve_before, reserved_items = reserve
    for done, batch in enumerate(batches, 1):
        if done - 1 == reserve_before:  # rows there are widened, rows to come start wide
            matrix.reserve(reserved_items)
        matrix.apply(batch)
        # After every batch: both are kept up to date, not only right at the end.
        totals = brute.counts(p for batch in batches[:done] for p in batch)
        for store_id in range(0, 14):
            assert matrix.top_items(store_id, n) == brute.top_items(totals, store_id, n)
        for item_id in range(0, 32):
            assert matrix.top_stores(item_id, n) == brute.top_stores(totals, item_id, n)
    totals = brute.counts(p for batch in batches for p in batch)
    purchases = sum(len(batch) for batch in batches)
    assert matrix.totals().purchases == purchases
    assert matrix.totals().units == sum(totals.values())


@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.integers(0, 5), max_size=60), n=st.integers(1, 70), seed=st.integers())
def test_it_breaks_ties_by_the_lower_id_whatever_the_column_order(values, n, seed):
    ids = np.arange(100, 100 + len(values), dtype=np.int64)
    random.Random(seed).shuffle(ids)
    expected = brute.ranked([(int(i), v) for i, v in zip(ids, values) if v > 0], n)
    assert top_n(np.array(values, dtype=np.int32), ids, n) == expected


def test_it_grows_past_1024_stores_and_200000_items():
    rng = random.Random(7)
    purchases = [
        (rng.randint(1, 1100), [(rng.randint(1, 210_000), rng.randint(1, 3)) for _ in range(5)])
        for _ in range(20_000)
    ]
    # Store and item ids far past any fixed bound, once each.
    purchases.append((2_000_000_000, [(2_147_483_647, 9)]))
    matrix = Matrix()
    for start in range(0, len(purchases), 500):
        matrix.apply(purchases[start:start + 500])
    totals = brute.counts(purchases)
    assert matrix.totals().stores == len({s for s, _ in totals})
    assert matrix.totals().items == len({i for _, i in totals})
    assert matrix.totals().stores > 1024 and matrix.totals().items > 50_000
    for store_id in (1, 512, 513, 1024, 1099, 2_000_000_000):
        assert matrix.top_items(store_id, 10) == brute.top_items(totals, store_id, 10)
    for item_id in rng.sample(range(1, 210_000), 30) + [2_147_483_647]:
        assert matrix.top_stores(item_id, 5) == brute.top_stores(totals, item_id, 5)


def test_a_reserved_matrix_takes_its_memory_at_each_stores_first_sale():
    # make soak measures growth after its first minutes: with the catalogue reserved, stores
    # that go on selling new items must not be what grows.
    items, stores, rng = 20_000, 64, random.Random(3)
    matrix = Matrix()
    matrix.reserve(items)
    tracemalloc.start()
    try:
        # Every item is known from the start (one store sold them all); the rest sold one.
        matrix.apply([(1, [(item, 1) for item in range(1, items + 1)])])
        matrix.apply([(store, [(1, 1)]) for store in range(2, stores + 1)])
        first_sales = tracemalloc.get_traced_memory()[0]
        for _ in range(100):
            matrix.apply([(rng.randint(2, stores), [(rng.randint(1, items), 1) for _ in range(5)])
                          for _ in range(100)])
        later = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert later <= first_sales * 1.05, (first_sales, later)
    assert first_sales >= stores * items * 4


def test_reserved_zeros_are_resident_at_once():
    # What make soak measures is the resident size, which np.zeros' pages join only when
    # written. In a process of its own: here, freed memory the allocator kept could serve it.
    probe = (
        "import os\n"
        "from analytics.arrays import resident_zeros\n"
        "def resident():\n"
        "    return int(open('/proc/self/statm').read().split()[1]) * os.sysconf('SC_PAGE_SIZE')\n"
        "before = resident()\n"
        "held = resident_zeros(16 << 20)\n"
        "print(resident() - before, held.nbytes, int(held.any()))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    grew, size, nonzero = map(int, out.split())
    assert grew >= 0.9 * size and not nonzero


def test_it_widens_a_row_instead_of_overflowing_int32():
    matrix = Matrix()
    matrix.apply([(1, [(5, 10**9)]), (1, [(6, 1)])] * 3)
    assert matrix.top_items(1, 2) == [(5, 3 * 10**9), (6, 3)]
    assert 3 * 10**9 > INT32_MAX
    assert matrix.top_stores(5, 5) == [(1, 3 * 10**9)]


def test_it_answers_nothing_for_unknown_ids():
    matrix = Matrix()
    matrix.apply([(3, [(4, 1)])])
    assert matrix.top_items(99, 10) == [] and matrix.top_stores(99, 5) == []


def test_a_query_never_sees_half_a_purchase():
    """Every purchase adds 1 to items 1 and 2 of a store: a reader must always see them equal."""
    matrix = Matrix()
    done = threading.Event()
    torn = []

    def write():
        for _ in range(3000):
            # Each write also brings new items, so rows keep growing under the readers.
            matrix.apply([(store, [(1, 1), (2, 1), (random.randint(3, 50_000), 1)])
                          for store in range(1, 9)])
        done.set()

    def read():
        while not done.is_set():
            for store in range(1, 9):
                top = dict(matrix.top_items(store, 2))
                if top and top.get(1) != top.get(2):
                    torn.append(top)

    threads = [threading.Thread(target=write)] + [threading.Thread(target=read) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert torn == []
    assert matrix.top_items(5, 2) == [(1, 3000), (2, 3000)]


@settings(max_examples=100, deadline=None)
@given(counts=st.lists(st.lists(st.integers(0, 4), min_size=30, max_size=30), min_size=1,
                       max_size=5),
       more=st.lists(purchase, max_size=30), leaders=st.integers(1, 8),
       best_stores=st.integers(1, 8), store_order=st.randoms())
def test_a_restored_matrix_ranks_its_leaders_from_the_rows_it_was_given(
        counts, more, leaders, best_stores, store_order):
    rows = [np.array(row, dtype=np.int32) for row in counts]
    item_ids = np.arange(30, 0, -1, dtype=np.int64)  # columns not in id order
    store_ids = list(range(1, len(rows) + 1))
    store_order.shuffle(store_ids)  # rows not in store id order: ties go by the id
    matrix = Matrix.restore(store_ids, item_ids, rows, 0, 0, leaders=leaders,
                            best_stores=best_stores)
    matrix.apply(more)
    totals = brute.counts(more)
    for store, row in zip(store_ids, counts):
        for column, quantity in enumerate(row):
            totals[store, int(item_ids[column])] += quantity
    totals = +totals  # drop the zero counts: an item a store never sold is no answer
    for store_id in range(0, 14):
        for n in (1, leaders, leaders + 3):
            assert matrix.top_items(store_id, n) == brute.top_items(totals, store_id, n)
    for item_id in range(0, 32):
        for n in (1, best_stores, best_stores + 3):
            assert matrix.top_stores(item_id, n) == brute.top_stores(totals, item_id, n)


def test_an_item_that_ties_the_last_leader_with_a_lower_id_takes_its_place():
    matrix = Matrix(leaders=2)
    matrix.apply([(1, [(9, 2), (5, 1)])])  # leaders: 9 (2), then 5 (1)
    matrix.apply([(1, [(4, 1)])])  # ties 5 at 1, and 4 < 5
    assert matrix.top_items(1, 2) == [(9, 2), (4, 1)]
    matrix.apply([(1, [(7, 1)])])  # ties too, but 7 > 4: stays out
    assert matrix.top_items(1, 2) == [(9, 2), (4, 1)]
    assert matrix.top_items(1, 3) == [(9, 2), (4, 1), (5, 1)]  # past the leaders: the scan


def test_a_store_that_ties_the_last_best_store_with_a_lower_id_takes_its_place():
    matrix = Matrix(best_stores=2)
    matrix.apply([(9, [(1, 2)]), (5, [(1, 1)])])  # best stores of item 1: 9 (2), then 5 (1)
    matrix.apply([(4, [(1, 1)])])  # ties 5 at 1, and 4 < 5
    assert matrix.top_stores(1, 2) == [(9, 2), (4, 1)]
    matrix.apply([(7, [(1, 1)])])  # ties too, but 7 > 4: stays out
    assert matrix.top_stores(1, 2) == [(9, 2), (4, 1)]
    assert matrix.top_stores(1, 3) == [(9, 2), (4, 1), (5, 1)]  # past them: the scan
    matrix.apply([(5, [(1, 2)])])  # 5 grows past 9's count: from outside to the top
    assert matrix.top_stores(1, 2) == [(5, 3), (9, 2)]


def test_a_restored_matrix_ranks_each_items_best_stores_among_many():
    rng = np.random.default_rng(3)
    store_ids = [int(s) for s in rng.permutation(np.arange(1, 301))]
    item_ids = np.arange(1, 41, dtype=np.int64)
    rows = [rng.integers(0, 20, item_ids.size).astype(np.int32) for _ in store_ids]
    matrix = Matrix.restore(store_ids, item_ids, rows, 0, 0)
    totals = brute.counts([])
    for store, row in zip(store_ids, rows):
        for column, quantity in enumerate(row.tolist()):
            if quantity:
                totals[store, int(item_ids[column])] += quantity
    for item_id in item_ids.tolist():
        assert matrix.top_stores(item_id, 8) == brute.top_stores(totals, item_id, 8)
