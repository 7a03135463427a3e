"""Analytics under faults: retention and a recreated stream (rebuilt from the database), and a
broker cut with idempotent retries and republished purchases (each counted once)."""
import json
import random
import threading
import time
import uuid
from collections import Counter

import pytest
import requests
from kombu import Connection, Producer

from analytics import client
from analytics.tests.helpers import accepted, assert_counts_match, counted, database_counts
from analytics.tests.test_consumer import task_body
from purchases.tests.helpers import (
    database_purchases,
    purchase_post,
    purchase_random,
    purchases_stream,
    stream_event_ids,
    wait_until,
)
from loadtest.service_admin import rabbitmqctl
from purchases.broker.topology import topology_declare

pytestmark = pytest.mark.slow


def test_it_rebuilds_from_the_database_when_the_stream_lost_its_start(own_stack):
    stack = own_stack
    # Retention of about 20 kB in 10 kB segments: most of what is sent leaves the stream.
    rabbitmqctl("set_policy", "-p", stack.vhost, "--apply-to", "queues", "tiny-stream",
                r"^purchases\.analytics$",
                json.dumps({"max-length-bytes": 20_000, "stream-max-segment-size-bytes": 10_000}))
    stack.start_worker()
    stack.start_web()
    assert len(accepted(purchases_stream(stack.base, 300))) == 300
    wait_until(lambda: len(database_purchases(stack.database_url)) == 300, 60, "all rows")
    analytics, address = stack.start_analytics()
    wait_until(lambda: counted(address) == 300, 60, "analytics to count what the database holds")
    assert "rebuilding the matrix from the database" in analytics.log_text()
    wait_until(lambda: "caught up after the rebuild" in analytics.log_text(), 30, "the catch-up")
    assert len(accepted(purchases_stream(stack.base, 100, seed=2))) == 100
    wait_until(lambda: len(database_purchases(stack.database_url)) == 400, 60, "all rows")
    wait_until(lambda: counted(address) == 400, 60, "analytics to count the new purchases")
    assert_counts_match(address, database_counts(stack))


def test_it_rebuilds_from_the_database_when_the_stream_was_recreated(own_stack):
    stack = own_stack
    stack.start_worker()
    analytics, address = stack.start_analytics()
    stack.start_web(ANALYTICS_ADDRESS=address)
    assert len(accepted(purchases_stream(stack.base, 200))) == 200
    wait_until(lambda: counted(address) == 200, 60, "analytics counting")
    analytics.stop()
    # The stream is lost and declared anew (a broker rebuilt from scratch, say); new
    # purchases start again at offset 0, below the 199 analytics has applied.
    rabbitmqctl("delete_queue", "-p", stack.vhost, "purchases.analytics")
    with Connection(stack.env["CELERY_BROKER_URL"]) as connection:
        topology_declare(connection)
    assert len(accepted(purchases_stream(stack.base, 100, seed=3))) == 100
    wait_until(lambda: len(database_purchases(stack.database_url)) == 300, 60, "all rows")
    analytics, _ = stack.start_analytics()
    wait_until(lambda: counted(address) == 300, 60, "analytics to count what the database holds")
    assert "it was recreated" in analytics.log_text()
    assert len(accepted(purchases_stream(stack.base, 50, seed=4))) == 50
    wait_until(lambda: counted(address) == 350, 60, "analytics to count the new purchases")
    wait_until(lambda: len(database_purchases(stack.database_url)) == 350, 60, "all rows")
    assert_counts_match(address, database_counts(stack))


def test_it_counts_each_purchase_once_across_a_broker_cut_and_idempotent_retries(own_stack):
    """Web, worker and analytics lose their broker connections for seconds. Clients retry
    with their Idempotency-Key, so some purchases reach the stream twice: counted once."""
    stack = own_stack
    proxy, broker_url = stack.proxy(stack.env["CELERY_BROKER_URL"])
    stack.start_worker(CELERY_BROKER_URL=broker_url)
    analytics, address = stack.start_analytics(CELERY_BROKER_URL=broker_url)
    stack.start_web(CELERY_BROKER_URL=broker_url, ANALYTICS_ADDRESS=address)
    rng = random.Random(11)
    todo = [(purchase_random(rng), str(uuid.uuid4())) for _ in range(1000)]

    def send(share):
        session = requests.Session()
        for sent, key in share:
            deadline = time.monotonic() + 60
            while purchase_post(session, stack.base, sent, **{"Idempotency-Key": key}).status != 201:
                assert time.monotonic() < deadline, "never accepted"
                time.sleep(0.2)  # 503 or connection lost: retry with the same key

    threads = [threading.Thread(target=send, args=(todo[i::6],)) for i in range(6)]
    for thread in threads:
        thread.start()
    wait_until(lambda: counted(address) >= 200, 60, "analytics counting")
    proxy.cut()
    time.sleep(3)
    proxy.restore()
    for thread in threads:
        thread.join()
    wait_until(lambda: len(database_purchases(stack.database_url)) == len(todo), 90, "all rows")
    wait_until(lambda: counted(address) >= len(todo), 90, "analytics to recover by itself")
    assert analytics.running and "reconnecting" in analytics.log_text()
    time.sleep(1)
    assert counted(address) == len(todo)
    # A republish whose first confirm was lost sends the same purchase again; force a few.
    before = client.stats(address)["last_offset"]
    republished = list(database_purchases(stack.database_url).values())[:20]
    with Connection(stack.env["CELERY_BROKER_URL"]) as connection:
        producer = Producer(connection.default_channel)
        for row in republished:
            producer.publish(
                task_body(row.store_id, row.items, str(uuid.UUID(row.purchase_id))),
                exchange="purchases", routing_key="purchases.db",
                content_type="application/json", content_encoding="utf-8")
    wait_until(lambda: client.stats(address)["last_offset"] >= before + 20, 30, "the copies")
    in_stream = Counter(stream_event_ids(stack.env["CELERY_BROKER_URL"]))
    assert sum(in_stream.values()) >= len(todo) + 20 and len(in_stream) == len(todo)
    assert counted(address) == len(todo)
    assert_counts_match(address, database_counts(stack))
