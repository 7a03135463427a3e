"""A broker of several nodes: purchases.db as a quorum queue, and every process failing over
to the next node of CELERY_BROKER_URL ("amqp://a;amqp://b") when the one it uses goes away.

The two "nodes" are two cuttable proxies in front of the one local RabbitMQ: what is tested
is each process's failover, not RabbitMQ's replication (the deployment's cluster does that).
"""
import random
import uuid

import pytest

from analytics import client
from purchases.events import ANALYTICS_STREAM, DB_QUEUE, PARKED_QUEUE
from purchases.tests.helpers import (
    assert_written_exactly,
    database_purchases,
    purchase_random,
    queue_types,
    retrying_clients_start,
    stream_event_ids,
    wait_until,
)

pytestmark = pytest.mark.slow


def test_every_process_fails_over_to_the_next_node_and_loses_nothing(own_stack):
    stack = own_stack
    nodes, urls = zip(*(stack.proxy(stack.env["CELERY_BROKER_URL"]) for _ in range(2)))
    stack.env["CELERY_BROKER_URL"] = ";".join(urls)
    stack.env["TIGLE_QUEUE_TYPE"] = "quorum"
    _, address = stack.start_analytics()
    worker = stack.start_worker()
    # One web process: it cannot hide a failing one behind the other.
    stack.start_web(ANALYTICS_ADDRESS=address, WEB_CONCURRENCY="1")
    types = queue_types(stack.vhost)
    assert [types[DB_QUEUE], types[PARKED_QUEUE], types[ANALYTICS_STREAM]] == [
        "quorum", "quorum", "stream"]

    rng = random.Random(11)
    todo = [(purchase_random(rng), str(uuid.uuid4())) for _ in range(1200)]
    clients = retrying_clients_start(stack.base, todo, seconds=90)
    # Each node goes down in turn (connections through it drop, new ones are refused), so
    # every process loses the node it is on once, whichever it started with.
    wait_until(lambda: len(database_purchases(stack.database_url)) >= 200, 60, "the worker writing")
    nodes[0].cut()
    wait_until(lambda: len(database_purchases(stack.database_url)) >= 500, 60, "writes through b")
    nodes[0].restore()
    nodes[1].cut()
    for thread in clients:
        thread.join()

    assert all(sent.status == 201 for sent, _ in todo), "every purchase accepted in the end"
    wait_until(lambda: len(database_purchases(stack.database_url)) >= len(todo), 90,
               "the worker to carry on")
    assert worker.running
    written = database_purchases(stack.database_url)
    assert len(written) == len(todo)
    assert_written_exactly([sent for sent, _ in todo], written)
    # Analytics reconnected too and counted every purchase of the stream once. A publish cut
    # off before its confirm and then retried with its key is in the stream twice.
    in_stream = set(stream_event_ids(stack.env["CELERY_BROKER_URL"]))
    assert in_stream == {sent.purchase_id for sent, _ in todo}
    units = sum(quantity for sent, _ in todo for _, quantity in sent.items)
    wait_until(lambda: client.stats(address)["purchases"] >= len(todo), 60,
               "analytics to count every purchase")
    assert (client.stats(address)["purchases"], client.stats(address)["units"]) == (len(todo), units)
    assert nodes[0].sockets, "everyone is back on the first node"
