"""`manage.py parked` against this run's RabbitMQ vhost: it says what is parked and why, and
--requeue moves the messages back into purchases.db, never through the fanout."""
import datetime
import io

import pytest
from django.core.management import CommandError, call_command
from kombu import Queue

from purchases.broker.publishing import task_message
from purchases.broker.task_messages import PARKED_BECAUSE
from purchases.broker.topology import topology_declare
from purchases.events import ANALYTICS_STREAM, DB_QUEUE, PARKED_QUEUE, event_new
from purchases.tests.conftest import queue_depth
from purchases.tests.helpers import not_a_purchase_publish, wait_until


def parked_command(*args: str) -> str:
    out = io.StringIO()
    call_command("parked", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def parked(broker):
    """Two purchases and one message that is none, parked as the worker parks them."""
    topology_declare(broker)
    for queue in (PARKED_QUEUE, DB_QUEUE):
        broker.default_channel.queue_purge(queue)
    events = [event_new(store_id=store, customer_id=1, date=datetime.date(2021, 1, 2),
                        items=[(5, 1)]) for store in (3, 4)]
    producer = broker.Producer()
    for event in events:
        body, headers, properties = task_message(event)
        producer.publish(body, exchange="", routing_key=PARKED_QUEUE,
                         headers={**headers, PARKED_BECAUSE: "the database refused it"},
                         **properties)
    not_a_purchase_publish(broker, PARKED_QUEUE)
    wait_until(lambda: queue_depth(broker, PARKED_QUEUE) == 3, 10, "three parked")
    yield events
    broker.default_channel.queue_purge(PARKED_QUEUE)
    broker.default_channel.queue_purge(DB_QUEUE)


def stream_length(broker) -> int:
    return broker.default_channel.queue_declare(ANALYTICS_STREAM, passive=True).message_count


def test_it_lists_what_is_parked_and_why_leaving_it_parked(parked, broker):
    text = parked_command()
    assert text.startswith(f"3 message(s) parked in {PARKED_QUEUE}")
    for event in parked:
        assert f"purchase {event.id}, store {event.store_id}, 2021-01-02: the database " \
               "refused it" in text
    assert "not a purchase" in text
    assert queue_depth(broker, PARKED_QUEUE) == 3


@pytest.mark.parametrize("limit", ["0", "-1", "all"])
def test_it_refuses_a_limit_that_is_no_count(parked, broker, limit):
    with pytest.raises(CommandError, match="--limit"):
        parked_command("--requeue", "--limit", limit)
    assert queue_depth(broker, PARKED_QUEUE) == 3


def test_requeue_moves_them_into_purchases_db_without_the_reason_and_not_to_analytics(
        parked, broker):
    stream_before = stream_length(broker)
    assert "moved 2 message(s)" in parked_command("--requeue", "--limit", "2")
    assert queue_depth(broker, PARKED_QUEUE) == 1
    assert "moved 1 message(s)" in parked_command("--requeue")
    assert queue_depth(broker, PARKED_QUEUE) == 0
    wait_until(lambda: queue_depth(broker, DB_QUEUE) == 3, 10, "three back in purchases.db")
    assert stream_length(broker) == stream_before  # the fanout was not used
    queue = Queue(DB_QUEUE)(broker.default_channel)
    moved = [queue.get(no_ack=True) for _ in range(3)]
    assert all(PARKED_BECAUSE not in message.headers for message in moved)
    assert {message.headers.get("id") for message in moved} >= {event.id for event in parked}
