"""The consumer one delivery at a time: offsets once, purchase ids once, bad messages skipped."""
import json
import uuid

import pytest

from analytics.consumer import Consumer, StreamLost
from analytics.state import RecentIds, State
from purchases.events import event_new


def task_body(store_id: int, items: list[tuple[int, int]], purchase_id: str | None = None) -> bytes:
    """A Celery protocol-2 JSON body, as the API publishes it: [args, kwargs, embed]."""
    import datetime

    event = event_new(store_id=store_id, customer_id=store_id * 1000, date=datetime.date(2021, 1, 1),
                      items=items, purchase_id=purchase_id)
    return json.dumps([[event.to_dict()], {}, {"callbacks": None}]).encode()


def totals(consumer: Consumer) -> tuple[int, int]:
    t = consumer.state.matrix.totals()
    return t.purchases, t.units


def test_it_applies_each_offset_once():
    consumer = Consumer(State())
    body = task_body(1, [(10, 2)])
    consumer.handle(body, 0)
    consumer.handle(body, 0)  # redelivered before the flush
    consumer.flush()
    consumer.handle(body, 0)  # and after it
    consumer.handle(task_body(1, [(10, 3)]), 1)
    consumer.flush()
    assert totals(consumer) == (2, 5)
    assert consumer.state.last_offset == 1
    assert consumer.state.matrix.top_items(1, 10) == [(10, 5)]


def test_it_counts_a_republished_purchase_once():
    consumer = Consumer(State())
    purchase_id = str(uuid.uuid4())
    consumer.handle(task_body(2, [(5, 1)], purchase_id), 0)
    consumer.handle(task_body(2, [(5, 1)], purchase_id), 1)  # same batch
    consumer.flush()
    consumer.handle(task_body(2, [(5, 1)], purchase_id), 2)  # a later batch
    consumer.flush()
    assert totals(consumer) == (1, 1)
    assert consumer.state.last_offset == 2


def test_it_skips_what_is_not_a_purchase_and_moves_on(caplog):
    consumer = Consumer(State())
    consumer.handle(b"not json", 0)
    consumer.handle(json.dumps([[{"v": 1, "id": "x"}], {}, {}]).encode(), 1)
    consumer.handle(task_body(3, [(1, 1)]), 2)
    consumer.flush()
    assert totals(consumer) == (1, 1)
    assert consumer.state.last_offset == 2
    assert "offset 0 skipped" in caplog.text and "offset 1 skipped" in caplog.text


def test_it_resumes_after_the_checkpointed_offset():
    consumer = Consumer(State(last_offset=41))
    consumer.attach_offset()
    consumer.handle(task_body(1, [(1, 1)]), 41)  # attached at the last offset applied
    consumer.handle(task_body(1, [(1, 7)]), 42)
    consumer.flush()
    assert totals(consumer) == (1, 7)


def test_it_reports_a_gap_when_the_stream_lost_the_offset_it_attached_at():
    consumer = Consumer(State(last_offset=9))
    assert consumer.attach_offset() == 9  # re-read, and skipped: proof the stream still has it
    with pytest.raises(StreamLost) as lost:
        consumer.handle(task_body(1, [(1, 1)]), 25)
    assert lost.value.resume == 25 and "expected offset 9" in str(lost.value)


def test_a_fresh_consumer_expects_the_stream_to_start_at_zero():
    consumer = Consumer(State())
    assert consumer.attach_offset() == 0
    with pytest.raises(StreamLost):
        consumer.handle(task_body(1, [(1, 1)]), 3)


def test_it_takes_offset_jumps_inside_the_stream_in_its_stride():
    """Each stream segment starts with a record no consumer sees: offsets skip one there."""
    consumer = Consumer(State(last_offset=9))
    consumer.attach_offset()
    consumer.handle(task_body(1, [(1, 1)]), 9)
    consumer.handle(task_body(1, [(1, 2)]), 11)
    consumer.handle(task_body(1, [(1, 4)]), 20)
    consumer.flush()
    assert totals(consumer) == (2, 6) and consumer.state.last_offset == 20


def test_it_forgets_the_oldest_ids_past_its_window():
    window = RecentIds(capacity=2)
    for key in (b"a", b"b", b"c"):
        window.add(key)
    assert b"a" not in window and b"b" in window and b"c" in window and len(window) == 2


def test_it_finds_a_recreated_stream_by_the_purchase_at_its_last_offset():
    consumer = Consumer(State())
    consumer.attach_offset()
    last = task_body(1, [(1, 2)])
    consumer.handle(task_body(1, [(1, 1)]), 0)
    consumer.handle(last, 1)
    consumer.flush()
    resumed = Consumer(consumer.state)
    assert resumed.attach_offset() == 1
    resumed.handle(last, 1)  # the same purchase there: the same stream
    recreated = Consumer(consumer.state)
    recreated.attach_offset()
    with pytest.raises(StreamLost) as lost:
        recreated.handle(task_body(1, [(1, 2)]), 1)
    assert lost.value.resume == 0 and "recreated" in str(lost.value)


def test_purchases_the_database_counted_are_remembered_as_seen():
    """After a rebuild, a republished copy of a purchase the database held counts once."""
    consumer = Consumer(State())
    body = task_body(4, [(2, 3)])
    purchase_id = json.loads(body)[0][0]["id"]
    consumer.already_counted = lambda ids: {purchase_id}
    consumer.handle(body, 0)
    consumer.flush()
    consumer.already_counted = None  # caught up
    consumer.handle(body, 1)  # the republished copy
    consumer.flush()
    assert totals(consumer) == (0, 0)
