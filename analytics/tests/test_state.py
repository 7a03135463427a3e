import os
import tracemalloc

from analytics.state import RecentIds


def test_the_window_holds_only_the_ids_it_was_given():
    window = RecentIds(capacity=4, ids=[b"a" * 16, b"b" * 16])
    assert len(window) == 2 and list(window) == [b"a" * 16, b"b" * 16]
    window.add(b"c" * 16)
    assert list(window) == [b"a" * 16, b"b" * 16, b"c" * 16]
    assert bytes(16) not in window  # a filler is never reported, nor checkpointed


def test_it_keeps_the_newest_ids_when_given_more_than_it_holds():
    window = RecentIds(capacity=2, ids=[b"a", b"b", b"c"])
    assert list(window) == [b"b", b"c"] and b"a" not in window


def test_its_memory_is_taken_at_start_not_while_it_fills():
    # A soak run measures growth after its first minutes; the window must not be what grows.
    tracemalloc.start()
    try:
        window = RecentIds(capacity=20_000)
        at_start = tracemalloc.get_traced_memory()[0]
        for _ in range(3 * window.capacity):
            window.add(os.urandom(16))
        filled = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(window) == window.capacity
    assert filled <= at_start * 1.05, (at_start, filled)
