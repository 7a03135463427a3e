"""Purchases through the API reach analytics over the real RabbitMQ stream: totals, rankings,
a kill -9 mid-stream, replicas, and the REST tier's answers when analytics is gone."""
import socket
import threading
import time

import pytest
import requests

from analytics import client
from analytics.tests import brute
from analytics.tests.helpers import accepted, assert_counts_match, counted, database_counts
from purchases.tests.helpers import database_purchases, purchases_stream, wait_until

pytestmark = pytest.mark.slow


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
            assert elapsed < 3.0, elapsed  # 0.5 s deadline; slack for a busy CI host
    finally:
        silent.close()
