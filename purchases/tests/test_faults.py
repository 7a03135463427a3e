"""Faults on purpose: a killed worker, an unreachable database, a cut broker connection, a
broker that does not confirm.

Whatever happens, every purchase that got a 201 ends up in the database exactly once.
"""
import http.client
import json
import random
import re
import select
from collections import Counter
import threading
import time
import uuid

import pytest
import requests

from purchases.events import DB_QUEUE
from purchases.tests.helpers import (
    assert_written_exactly,
    database_purchases,
    purchase_random,
    purchases_stream,
    queue_column,
    retrying_clients_start,
    stream_event_ids,
    wait_until,
)

pytestmark = pytest.mark.slow


def rows(stack) -> int:
    return len(database_purchases(stack.database_url))


def in_background(target, *args, **kwargs):
    result = {}
    thread = threading.Thread(target=lambda: result.update(value=target(*args, **kwargs)))
    thread.start()
    return thread, result


def queue_messages(vhost: str) -> int:
    """Ready plus unacked messages in purchases.db, as the broker counts them."""
    return int(queue_column(vhost, "messages")[DB_QUEUE])


def stream_finished(stack, thread, result, count: int, what: str) -> list:
    """Join the sending thread; check all count purchases were accepted and written once."""
    thread.join()
    sent = result["value"]
    accepted = [one for one in sent if one.status == 201]
    assert len(accepted) == count
    wait_until(lambda: rows(stack) >= count, 90, what)
    written = database_purchases(stack.database_url)
    assert len(written) == count
    assert_written_exactly(sent, written)
    return accepted


def test_it_loses_nothing_when_the_worker_is_killed_mid_stream(stack):
    stack.start_worker()
    stack.start_web()
    thread, result = in_background(purchases_stream, stack.base, 2000, pause=0.002)
    wait_until(lambda: rows(stack) >= 300, 60, "the worker writing")
    stack.worker.kill()
    time.sleep(1)
    stack.start_worker()
    stream_finished(stack, thread, result, 2000, "every accepted purchase")


def test_it_acks_nothing_early_while_the_database_is_unreachable(stack, rabbitmq_vhost):
    proxy, database_url = stack.proxy(stack.database_url)
    worker = stack.start_worker(DATABASE_URL=database_url)
    stack.start_web()
    answered: list = []  # list.append is atomic across the sending threads
    thread, result = in_background(
        purchases_stream, stack.base, 1500, threads=4, pause=0.004, on_sent=answered.append
    )
    wait_until(lambda: rows(stack) >= 200, 60, "the worker writing")
    proxy.cut()
    time.sleep(3)
    written_during_outage = rows(stack)
    accepted_before = sum(1 for sent in list(answered) if sent.status == 201)
    # Every accepted purchase not yet written is still the broker's, ready or unacked.
    assert queue_messages(rabbitmq_vhost) >= accepted_before - written_during_outage > 0
    assert rows(stack) == written_during_outage
    proxy.restore()
    accepted = stream_finished(stack, thread, result, 1500, "the worker to resume by itself")
    assert worker.running, "the worker must recover without a restart"
    assert queue_messages(rabbitmq_vhost) == 0
    assert "not written" in worker.log_text()
    # Requeued batches went back to purchases.db only: the stream holds each purchase once.
    in_stream = Counter(stream_event_ids(stack.env["CELERY_BROKER_URL"]))
    assert {in_stream[one.purchase_id] for one in accepted} == {1}


def test_it_answers_503_not_201_while_the_broker_is_cut_and_recovers(stack):
    proxy, broker_url = stack.proxy(stack.env["CELERY_BROKER_URL"])
    worker = stack.start_worker(CELERY_BROKER_URL=broker_url)
    stack.start_web(CELERY_BROKER_URL=broker_url)

    rng = random.Random(7)
    todo = [(purchase_random(rng), str(uuid.uuid4())) for _ in range(1200)]
    statuses: list[int] = []
    threads = retrying_clients_start(stack.base, todo, seconds=120, statuses=statuses)
    wait_until(lambda: rows(stack) >= 200, 60, "the worker writing")
    proxy.cut()
    time.sleep(0.5)
    health = requests.get(f"{stack.base}/healthz", timeout=10)
    time.sleep(2.5)
    proxy.restore()
    for thread in threads:
        thread.join()

    assert health.status_code == 503 and health.json()["broker"]["status"] == "down"
    assert 503 in statuses, "a request during the cut must be refused"
    assert all(sent.status == 201 for sent, _ in todo), "every purchase accepted in the end"
    wait_until(lambda: rows(stack) >= len(todo), 90, "the worker to recover by itself")
    assert worker.running
    written = database_purchases(stack.database_url)
    # One row per idempotency key: no retry, requeue or redelivery wrote a second one.
    assert len(written) == len(todo)
    assert_written_exactly([sent for sent, _ in todo], written)


def test_a_purchase_is_answered_once_confirmed_and_other_requests_are_served_meanwhile(
        stack, tmp_path):
    """The 201 waits for the broker's confirm while another request thread answers other
    requests, and a confirm that never comes is a 503 with the API's headers, on a
    connection kept alive."""
    proxy, broker_url = stack.proxy(stack.env["CELERY_BROKER_URL"])
    stack.start_worker()
    access = tmp_path / "access.log"
    stack.start_web(CELERY_BROKER_URL=broker_url,
                    WEB_THREADS="2", TIGLE_PUBLISH_TIMEOUT="1",
                    GUNICORN_CMD_ARGS=f"--access-logfile {access}")
    port = int(stack.base.rpartition(":")[2])
    store = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    path = "/purchase/3/customer/9/date/20260101"
    body = json.dumps({"items": [{"ItemID": "8", "numberOfItems": 2}]})

    def post():
        store.request("POST", path, body, {"Content-Type": "application/json"})

    def answered(seconds: float) -> bool:
        return bool(select.select([store.sock], [], [], seconds)[0])

    post()  # opens the publisher's connection
    first = store.getresponse()
    first.read()
    assert first.status == 201
    proxy.hold()
    post()
    # The other request thread is free while the broker holds the confirm back.
    assert requests.get(f"{stack.base}/admin/login/", timeout=5).status_code == 200
    assert not answered(0.3), "answered before the broker confirmed"
    proxy.release()
    assert answered(5)
    confirmed = store.getresponse()
    purchase_id = json.loads(confirmed.read())["purchaseID"].replace("-", "")
    assert confirmed.status == 201
    wait_until(lambda: purchase_id in database_purchases(stack.database_url), 30,
               "the confirmed purchase in the database")

    proxy.hold()
    started = time.monotonic()
    post()
    refused = store.getresponse()
    message = json.loads(refused.read())["message"]
    assert refused.status == 503 and time.monotonic() - started < 1 + 1.5
    assert "retry later" in message
    assert refused.getheader("Retry-After") == "1"
    assert refused.getheader("X-Content-Type-Options") == "nosniff"  # the middleware's headers
    assert refused.getheader("Content-Type") == "application/json"
    proxy.release()
    post()  # the same kept-alive connection, a new broker connection
    assert store.getresponse().status == 201
    # Logged once sent, with the status the store got: the refusal is no 201 there.
    wait_until(lambda: len(re.findall(f'"POST {path} ', access.read_text())) == 4, 10,
               "four purchases in the access log")
    assert re.findall(f'"POST {path} HTTP/1.1" (\\d+)', access.read_text()) == \
        ["201", "201", "503", "201"]
