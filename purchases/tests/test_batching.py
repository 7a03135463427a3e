"""The batch consumer's single steps, on real messages from this run's RabbitMQ vhost."""
import datetime

import pytest
from kombu import Queue

from purchases.broker.batching import Batcher, SettledTags
from purchases.events import PARKED_QUEUE, TASK_NAME, event_new
from purchases.broker.task_messages import ParkFailed
from purchases.tests.conftest import queue_depth
from purchases.tests.helpers import not_a_purchase_publish, wait_until
from tigle_project.celery_app import app

QUEUE = "test.batching"


class Clock:
    now = 0.0

    def __call__(self):
        return self.now


def publish(connection, count):
    producer = connection.Producer()
    events = []
    for store in range(1, count + 1):
        event = event_new(store_id=store, customer_id=1, date=datetime.date(2021, 1, 1),
                          items=[(1, 1)])
        message = app.amqp.as_task_v2(event.id, TASK_NAME, args=(event.to_dict(),))
        producer.publish(message.body, routing_key=QUEUE, serializer="json",
                         headers=message.headers, **message.properties)
        events.append(event)
    return events


@pytest.fixture
def queue(broker):
    declared = Queue(QUEUE, durable=False, auto_delete=False)(broker.default_channel)
    declared.declare()
    declared.purge()
    yield declared
    declared.delete()


def fetch(queue, count):
    return [queue.get(no_ack=False) for _ in range(count)]


def test_it_acks_only_after_the_batch_is_written(broker, queue):
    sent = publish(broker, 3)
    written = []
    channel = broker.channel()
    try:
        batcher = Batcher(write=written.append, size=3, seconds=60, clock=Clock())
        messages = fetch(Queue(QUEUE)(channel), 3)
        for message in messages[:2]:
            batcher.on_message(message)
        assert written == [] and not any(m.acknowledged for m in messages)
        batcher.on_message(messages[2])
        assert [[e.id for e in batch] for batch in written] == [[e.id for e in sent]]
        assert batcher.pending == [] and messages[-1].acknowledged
    finally:
        channel.close()  # anything left unacked would go back to the queue now
    assert queue_depth(broker, QUEUE) == 0


def test_one_ack_settles_a_whole_batch_and_nothing_comes_back(broker, queue):
    publish(broker, 5)
    channel = broker.channel()
    try:
        received = Queue(QUEUE)(channel)
        batcher = Batcher(write=lambda events: None, size=5, seconds=60, clock=Clock())
        for message in [received.get(no_ack=False) for _ in range(5)]:
            batcher.on_message(message)
        assert batcher.settled.through == 5
    finally:
        channel.close()  # anything left unacked would go back to the queue now
    assert queue_depth(broker, QUEUE) == 0


def test_settled_tags_move_up_only_over_a_gapless_run():
    settled = SettledTags()
    for tag in (2, 3):
        settled.add(tag)
    assert settled.through == 0  # 1 is still open
    settled.add(1)
    assert settled.through == 3
    settled.add(5)
    assert settled.through == 3


def test_it_flushes_a_partial_batch_once_it_is_old_enough(broker, queue):
    publish(broker, 2)
    clock, written = Clock(), []
    batcher = Batcher(write=written.append, size=100, seconds=0.2, clock=clock)
    for message in fetch(queue, 2):
        batcher.on_message(message)
    batcher.on_tick()
    assert written == []
    clock.now = 0.25
    batcher.on_tick()
    assert len(written) == 1 and len(written[0]) == 2


def test_it_requeues_a_refused_batch_and_backs_off(broker, queue):
    publish(broker, 2)
    clock, attempts = Clock(), []

    def refuse(events):
        attempts.append(len(events))
        raise RuntimeError("database unreachable")

    batcher = Batcher(write=refuse, size=2, seconds=0.1, clock=clock)
    messages = fetch(queue, 2)
    for message in messages:
        batcher.on_message(message)
    assert attempts == [2] and all(m.acknowledged for m in messages)  # settled: rejected
    # Requeued in purchases' own queue: back on the broker, nothing acked.
    assert queue_depth(broker, QUEUE) == 2
    for message in fetch(queue, 2):
        batcher.on_message(message)
    clock.now = 0.2
    batcher.on_tick()
    assert attempts == [2], "must wait out the backoff"
    batcher.write = lambda events: attempts.append(-len(events))
    clock.now = 1.0
    batcher.on_tick()
    assert attempts == [2, -2]
    assert queue_depth(broker, QUEUE) == 0


def test_it_parks_a_message_that_is_not_a_purchase(broker, queue):
    broker.default_channel.queue_purge(PARKED_QUEUE)
    not_a_purchase_publish(broker, QUEUE)
    written = []
    batcher = Batcher(write=written.append, size=1, seconds=0.1, clock=Clock())
    batcher.on_message(queue.get(no_ack=False))
    assert written == []
    assert queue_depth(broker, PARKED_QUEUE) == 1
    assert queue_depth(broker, QUEUE) == 0


def test_it_requeues_into_purchases_db_only_on_the_filesystem_broker(tmp_path):
    """kombu's filesystem broker re-routes a rejected message through its exchange; the
    batcher must not let a requeue reach another queue bound to the fanout."""
    from kombu import Connection

    from purchases.events import DB_QUEUE
    from purchases.broker.topology import db_queue, purchases_exchange, topology_declare

    folders = {name: str(tmp_path / name) for name in ("queue", "control")}
    for folder in folders.values():
        (tmp_path / folder).mkdir()
    options = {"data_folder_in": folders["queue"], "data_folder_out": folders["queue"],
               "control_folder": folders["control"]}
    with Connection("filesystem://", transport_options=options) as connection:
        topology_declare(connection)
        other = Queue("other.copy", exchange=purchases_exchange, routing_key="other.copy")
        other(connection.default_channel).declare()
        event = event_new(store_id=1, customer_id=1, date=datetime.date(2021, 1, 1), items=[(1, 1)])
        message = app.amqp.as_task_v2(event.id, TASK_NAME, args=(event.to_dict(),))
        connection.Producer().publish(message.body, exchange=purchases_exchange,
                                      routing_key=DB_QUEUE, serializer="json",
                                      headers=message.headers, **message.properties)
        channel = connection.default_channel
        assert channel.queue_declare(DB_QUEUE, passive=True).message_count == 1
        assert channel.queue_declare("other.copy", passive=True).message_count == 1

        def refuse(events):
            raise RuntimeError("database unreachable")

        batcher = Batcher(write=refuse, size=1, seconds=0.1, clock=Clock())
        batcher.on_message(db_queue(channel).get(no_ack=False))
        assert channel.queue_declare(DB_QUEUE, passive=True).message_count == 1
        assert channel.queue_declare("other.copy", passive=True).message_count == 1


def test_it_parks_a_purchase_the_database_refuses_for_good_and_writes_the_rest(broker, queue):
    broker.default_channel.queue_purge(PARKED_QUEUE)
    sent = publish(broker, 3)
    poison = sent[1].id
    written = []

    class Refused(Exception):
        pass

    def write(events):
        if any(event.id == poison for event in events):
            raise Refused("value out of range")
        written.extend(event.id for event in events)

    batcher = Batcher(write=write, size=3, seconds=60, permanent_errors=(Refused,), clock=Clock())
    channel = broker.channel()
    try:
        for message in fetch(Queue(QUEUE)(channel), 3):
            batcher.on_message(message)
        assert written == [sent[0].id, sent[2].id]
        assert batcher.settled.through == 3
    finally:
        channel.close()  # anything left unacked would go back to the queue now
    assert queue_depth(broker, QUEUE) == 0
    assert queue_depth(broker, PARKED_QUEUE) == 1
    assert batcher.backoff == 0


def test_a_message_is_not_let_go_when_the_parked_queue_cannot_take_it(broker, queue):
    """The worker's channel here does not confirm (as in transient mode): parking must still
    learn of the return before it acks the original."""
    from purchases.broker.topology import topology_declare

    assert not broker.connection.confirm_publish
    broker.default_channel.queue_delete(PARKED_QUEUE)
    try:
        not_a_purchase_publish(broker, QUEUE)
        batcher = Batcher(write=[].append, size=1, seconds=0.1, clock=Clock())
        message = queue.get(no_ack=False)
        with pytest.raises(ParkFailed, match="NO_ROUTE|312"):
            batcher.on_message(message)
        assert not message.acknowledged
        message.reject(requeue=True)
        wait_until(lambda: queue_depth(broker, QUEUE) == 1, 10, "the message back in its queue")
    finally:
        topology_declare(broker)
