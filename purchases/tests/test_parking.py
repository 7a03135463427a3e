"""Parking a message: confirmed by RabbitMQ before the original is let go, in both modes."""
import time

import pytest
from kombu import Connection, Queue

from purchases.broker import task_messages
from purchases.events import PARKED_QUEUE
from purchases.broker.task_messages import ParkFailed, message_park
from purchases.tests.conftest import proxied, queue_depth
from purchases.tests.helpers import not_a_purchase_publish, wait_until
from purchases.tests.proxy import FaultProxy
from purchases.broker.topology import topology_declare

QUEUE = "test.parking"


@pytest.fixture(params=[True, False], ids=["durable", "transient"])
def worker_connection(request, broker):
    """A connection like the worker's: publisher confirms on (durable) or off (transient)."""
    broker.default_channel.queue_purge(PARKED_QUEUE)
    declared = Queue(QUEUE, durable=False)(broker.default_channel)
    declared.declare()
    declared.purge()
    with Connection(broker.as_uri(include_password=True),
                    transport_options={"confirm_publish": request.param}) as connection:
        yield connection
    declared.delete()
    topology_declare(broker)


def fetched(connection, count):
    for _ in range(count):
        not_a_purchase_publish(connection, QUEUE)
    queue = Queue(QUEUE)(connection.default_channel)
    wait_until(lambda: queue_depth(connection, QUEUE) == count, 10, "the messages queued")
    return [queue.get(no_ack=False) for _ in range(count)]


def test_it_parks_one_message_after_another_and_lets_each_go(worker_connection, broker):
    messages = fetched(worker_connection, 3)
    for message in messages:
        message_park(message, "not a purchase")
        assert message.acknowledged
    assert queue_depth(broker, PARKED_QUEUE) == 3
    worker_connection.default_channel.close()  # an unacked original would come back now
    assert queue_depth(broker, QUEUE) == 0


def test_a_park_no_queue_takes_raises_and_keeps_the_original(worker_connection, broker):
    (message,) = fetched(worker_connection, 1)
    broker.default_channel.queue_delete(PARKED_QUEUE)
    with pytest.raises(ParkFailed, match="NO_ROUTE|312"):
        message_park(message, "not a purchase")
    assert not message.acknowledged
    topology_declare(broker)
    message_park(message, "not a purchase")  # the channel carries on after a return
    assert message.acknowledged and queue_depth(broker, PARKED_QUEUE) == 1


@pytest.mark.parametrize("confirm_publish", [True, False], ids=["durable", "transient"])
def test_a_broker_that_never_confirms_a_park_fails_it_in_bounded_time(
        broker, monkeypatch, confirm_publish):
    monkeypatch.setattr(task_messages, "PARK_CONFIRM_SECONDS", 1.0)
    broker.default_channel.queue_purge(PARKED_QUEUE)
    declared = Queue(QUEUE, durable=False)(broker.default_channel)
    declared.declare()
    declared.purge()
    proxy = FaultProxy.to(broker.as_uri(include_password=True))
    try:
        with Connection(proxied(broker.as_uri(include_password=True), proxy),
                        transport_options={"confirm_publish": confirm_publish}) as connection:
            first, second = fetched(connection, 2)
            message_park(first, "not a purchase")  # the parks' channel is open, as in a worker
            proxy.hold()  # the publish reaches the broker; nothing comes back
            started = time.monotonic()
            with pytest.raises(ParkFailed, match="no confirm"):
                message_park(second, "not a purchase")
            assert 1.0 <= time.monotonic() - started < 5
            assert first.acknowledged and not second.acknowledged
            proxy.cut()
    finally:
        proxy.close()
        declared.delete()
