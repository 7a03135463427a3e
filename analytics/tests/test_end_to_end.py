"""Purchases through the API reach analytics over the real RabbitMQ stream: totals, rankings,
a kill -9 mid-stream, replicas, and the REST tier's answers when analytics is gone."""
import json
import random
from collections import Counter
import socket
import threading
import time
import urllib.parse
import uuid

import pytest
import requests

from kombu import Connection, Producer

from analytics import client
from analytics.tests.test_consumer import task_body
from analytics.tests import brute
from purchases.tests.conftest import proxied
from purchases.tests.helpers import (
    database_purchases,
    purchase_post,
    purchase_random,
    purchases_stream,
    stream_event_ids,
    wait_until,
)
from purchases.tests.proxy import FaultProxy
from purchases.tests.run_env import rabbitmqctl
from purchases.topology import topology_declare

pytestmark = pytest.mark.slow


def accepted(sent) -> list:
    return [(one.store_id, one.items) for one in sent if one.status == 201]


def assert_counts_match(address: str, purchases: list) -> None:
    """Stats, TopItems and TopStores of one replica equal brute force over these purchases."""
    totals = brute.counts(purchases)
    stats = client.stats(address)
    assert (stats["purchases"], stats["units"]) == (len(purchases), sum(totals.values()))
    assert stats["stores"] == len({s for s, _ in totals})
    for store_id in {s for s, _ in totals}:
        assert client.top_items(address, store_id) == brute.top_items(totals, store_id, 10)
    for item_id in sorted({i for _, i in totals})[:200]:
        assert client.top_stores(address, item_id) == brute.top_stores(totals, item_id, 5)


def counted(address: str) -> int:
    try:
        return client.stats(address)["purchases"]
    except Exception:  # restarting
        return -1


def test_it_counts_every_accepted_purchase_and_answers_over_rest(own_stack):
    stack = own_stack
    stack.start_worker()
    _, address = stack.start_analytics()
    stack.start_web(ANALYTICS_ADDRESS=address)
    sent = purchases_stream(stack.base, 400)
    purchases = accepted(sent)
    assert len(purchases) == 400
    wait_until(lambda: counted(address) == 400, 60, "analytics to count every purchase")
    assert_counts_match(address, purchases)
    totals = brute.counts(purchases)
    store_id, item_id = purchases[0][0], purchases[0][1][0][0]
    top_items = requests.get(f"{stack.base}/items/store/{store_id}", timeout=10)
    assert top_items.status_code == 200
    assert top_items.json() == {"stores": [{"itemID": i, "numberOfItems": q}
                                           for i, q in brute.top_items(totals, store_id, 10)]}
    top_stores = requests.get(f"{stack.base}/items/top5/{item_id}?top=3", timeout=10)
    assert top_stores.json() == {"stores": [{"storeID": s, "numberOfItems": q}
                                            for s, q in brute.top_stores(totals, item_id, 3)]}
    assert requests.get(f"{stack.base}/items/store/999999", timeout=10).status_code == 404
    assert requests.get(f"{stack.base}/items/top5/0", timeout=10).status_code == 400
    assert requests.get(f"{stack.base}/items/store/1?top=x", timeout=10).status_code == 400
    # The database holds the same purchases analytics counted.
    wait_until(lambda: len(database_purchases(stack.database_url)) == 400, 60, "all rows")


def test_it_neither_loses_nor_doubles_after_kill_9_mid_stream(own_stack):
    stack = own_stack
    stack.start_worker()
    _, address = stack.start_analytics(ANALYTICS_CHECKPOINT_SECONDS="0.3")
    stack.start_web(ANALYTICS_ADDRESS=address)
    result = {}
    sender = threading.Thread(target=lambda: result.update(
        sent=purchases_stream(stack.base, 3000, pause=0.002)))
    sender.start()
    wait_until(lambda: counted(address) >= 600, 60, "analytics counting")
    time.sleep(0.5)  # let a checkpoint or two land, then crash between them
    stack.analytics["analytics"][0].kill()
    time.sleep(1)
    analytics, _ = stack.start_analytics(ANALYTICS_CHECKPOINT_SECONDS="0.3")
    assert "checkpoint loaded" in analytics.log_text()
    sender.join()
    purchases = accepted(result["sent"])
    assert len(purchases) == 3000
    wait_until(lambda: counted(address) == 3000, 90, "analytics to catch up")
    wait_until(lambda: len(database_purchases(stack.database_url)) == 3000, 90, "all rows")
    # Totals equal the database's: nothing lost, nothing counted twice.
    assert_counts_match(address, database_counts(stack))
    time.sleep(1)
    assert counted(address) == 3000


def database_counts(stack) -> list:
    return [(row.store_id, row.items) for row in database_purchases(stack.database_url).values()]


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


def test_replicas_agree_and_rest_spreads_over_them_and_survives_one_down(own_stack):
    stack = own_stack
    stack.start_worker()
    a, address_a = stack.start_analytics("analytics-a")
    _, address_b = stack.start_analytics("analytics-b")
    stack.start_web(ANALYTICS_ADDRESS=f"{address_a},{address_b}")
    purchases = accepted(purchases_stream(stack.base, 300))
    for address in (address_a, address_b):
        wait_until(lambda: counted(address) == 300, 60, f"{address} counting")
        assert_counts_match(address, purchases)
    session = requests.Session()
    for store_id in range(1, 41):
        assert session.get(f"{stack.base}/items/store/{store_id}", timeout=10).status_code in (200, 404)
    queries = [client.stats(address)["queries"] for address in (address_a, address_b)]
    assert all(q > 0 for q in queries), queries
    a.kill()
    answers = [session.get(f"{stack.base}/items/top5/{purchases[i][1][0][0]}", timeout=10).status_code
               for i in range(40)]
    assert answers == [200] * 40


def test_it_answers_503_within_its_deadline_when_no_replica_answers(stack):
    # One replica refuses connections; the other accepts them and never says a word.
    silent = socket.create_server(("127.0.0.1", 0))
    address = f"127.0.0.1:{silent.getsockname()[1]}"
    closed = socket.create_server(("127.0.0.1", 0))
    refused = f"127.0.0.1:{closed.getsockname()[1]}"
    closed.close()
    try:
        stack.start_web(ANALYTICS_ADDRESS=f"{refused},{address}", TIGLE_ANALYTICS_TIMEOUT="0.5")
        for path in ("/items/store/1", "/items/top5/1"):
            started = time.monotonic()
            response = requests.get(stack.base + path, timeout=10)
            elapsed = time.monotonic() - started
            assert response.status_code == 503 and response.headers["Retry-After"]
            assert "analytics" in response.json()["message"]
            assert elapsed < 2.0, elapsed
    finally:
        silent.close()


def test_it_counts_each_purchase_once_across_a_broker_cut_and_idempotent_retries(own_stack):
    """Web, worker and analytics lose their broker connections for seconds. Clients retry
    with their Idempotency-Key, so some purchases reach the stream twice: counted once."""
    stack = own_stack
    amqp = urllib.parse.urlsplit(stack.env["CELERY_BROKER_URL"])
    proxy = FaultProxy(amqp.hostname, amqp.port or 5672)
    stack.proxies.append(proxy)
    broker_url = proxied(stack.env["CELERY_BROKER_URL"], proxy)
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
