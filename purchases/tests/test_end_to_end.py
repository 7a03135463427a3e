"""Purchases POSTed through gunicorn reach the database through the broker and the worker."""
import datetime
import os
import re
import socket
import subprocess
import sys

import pytest
from kombu import Connection

from purchases.events import DB_QUEUE, PARKED_QUEUE, event_new
from purchases.models import AnalyticsBacklog
from purchases.tests.conftest import queue_depth
from purchases.tests.helpers import (
    assert_written_exactly,
    database_purchases,
    kept_long_ago,
    not_a_purchase_publish,
    purchases_stream,
    wait_until,
)
from loadtest.stack import ROOT, web_start, worker_start

N = 300


def accepted(sent):
    return [one for one in sent if one.status == 201]


@pytest.mark.parametrize("durable", ["1", "0"], ids=["durable", "transient"])
def test_it_writes_every_accepted_purchase_to_mariadb_field_by_field(stack, durable):
    stack.start_worker()
    stack.start_web(TIGLE_DURABLE=durable)
    sent = purchases_stream(stack.base, N)
    assert [one.status for one in sent] == [201] * N
    wait_until(lambda: len(database_purchases(stack.database_url)) >= N, 60, "all rows")
    rows = database_purchases(stack.database_url)
    assert len(rows) == N
    assert_written_exactly(sent, rows)


def test_pipelined_purchases_are_each_confirmed_answered_in_order_and_written(stack):
    """A client may send its next requests before the answers (HTTP/1.1 pipelining); each
    201 still waits for its own confirm and answers its own request."""
    stack.start_worker()
    stack.start_web()
    port = int(stack.base.rpartition(":")[2])
    body = b'{"items": [{"ItemID": "8", "numberOfItems": 2}]}'
    requests = b"".join(
        f"POST /purchase/4/customer/{customer}/date/20260101 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
        for customer in (4001, 4002, 4003))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(requests)
        data = b""
        while data.count(b"purchaseID") < 3 and (chunk := client.recv(65536)):
            data += chunk
    assert re.findall(rb"HTTP/1\.1 (\d{3}) ", data) == [b"201"] * 3
    ids = [one.decode().replace("-", "") for one in re.findall(rb'"purchaseID":"([0-9a-f-]+)"', data)]
    wait_until(lambda: len(database_purchases(stack.database_url)) == 3, 30, "the three rows")
    rows = database_purchases(stack.database_url)
    assert [rows[purchase_id].customer_id for purchase_id in ids] == [4001, 4002, 4003]


@pytest.mark.parametrize("durable", ["1", "0"], ids=["durable", "transient"])
def test_the_worker_parks_a_message_that_is_not_a_purchase(stack, broker, durable):
    """Parking publishes with a confirm in both modes (transient: on a channel of its own)."""
    broker.default_channel.queue_purge(PARKED_QUEUE)
    stack.start_worker(TIGLE_DURABLE=durable)
    not_a_purchase_publish(broker, DB_QUEUE)
    wait_until(lambda: queue_depth(broker, PARKED_QUEUE) == 1, 30, "the message parked")
    assert queue_depth(broker, DB_QUEUE) == 0
    assert "parking message" in stack.worker.log_text()


# What Celery's own consumer would drop: acked (no decoding it) or rejected (no such task).
NOT_TASKS = {
    "body not decodable as text/plain": dict(body="not a task"),
    "undecodable task body": dict(
        body=b"\x00\x01", content_type="application/x-binary", content_encoding="binary",
        headers={"task": "purchases.record", "id": "binary"}),
    "not a task message: it names no task": dict(
        body="{}", content_type="application/json", content_encoding="utf-8"),
    "names a task this worker does not run: KeyError('celery.backend_cleanup')": dict(
        body="[[], {}, {}]", content_type="application/json", content_encoding="utf-8",
        headers={"task": "celery.backend_cleanup", "id": "celery's own"}),
    "names a task this worker does not run": dict(
        body="[[], {}, {}]", content_type="application/json", content_encoding="utf-8",
        headers={"task": "other.task", "id": "other"}),
}


def test_the_worker_parks_what_celery_would_drop_and_says_why(stack, broker):
    from purchases.broker.task_messages import PARKED_BECAUSE
    from purchases.broker.topology import parked_queue

    broker.default_channel.queue_purge(PARKED_QUEUE)
    stack.start_worker()
    for message in NOT_TASKS.values():
        broker.Producer().publish(routing_key=DB_QUEUE, **message)
    wait_until(lambda: queue_depth(broker, PARKED_QUEUE) == len(NOT_TASKS), 30, "all parked")
    assert queue_depth(broker, DB_QUEUE) == 0
    queue = parked_queue(broker.default_channel)
    reasons = [queue.get(no_ack=True).headers[PARKED_BECAUSE] for _ in NOT_TASKS]
    assert [next((one for one in NOT_TASKS if reason.startswith(one)), reason)
            for reason in reasons] == list(NOT_TASKS)
    # Celery's remote-control consumer shares the decode hook: what it cannot read is its
    # own business (logged and dropped), never parked among purchases.
    broker.Producer().publish(b"\x00", exchange="celery.pidbox", routing_key="",
                              content_type="application/x-binary", content_encoding="binary")
    wait_until(lambda: "Can't decode message body" in stack.worker.log_text(), 30,
               "the remote-control message refused")
    assert queue_depth(broker, PARKED_QUEUE) == 0
    assert stack.worker.running


def test_a_park_the_broker_does_not_take_makes_the_worker_reconnect_and_park_again(
        stack, broker):
    """Until then the message stays unacked; the reconnect declares the parked queue anew."""
    stack.start_worker()
    broker.default_channel.queue_delete(PARKED_QUEUE)
    not_a_purchase_publish(broker, DB_QUEUE)
    wait_until(lambda: "Connection to broker lost" in stack.worker.log_text(), 30, "reconnect")
    wait_until(lambda: queue_depth(broker, PARKED_QUEUE) == 1, 30, "parked after it")
    assert queue_depth(broker, DB_QUEUE) == 0 and stack.worker.running


def test_a_run_of_messages_to_park_is_parked_one_after_another(stack, broker):
    """Waiting for one park's confirm delivers the next message to park: parks that nested
    there took each other's confirms and stalled the worker until it lost its connection."""
    broker.default_channel.queue_purge(PARKED_QUEUE)
    stack.start_worker()
    for _ in range(300):
        not_a_purchase_publish(broker, DB_QUEUE)
    wait_until(lambda: queue_depth(broker, PARKED_QUEUE) == 300, 30, "all 300 parked")
    assert queue_depth(broker, DB_QUEUE) == 0
    assert "Connection to broker lost" not in stack.worker.log_text()


def test_it_writes_inside_the_request_in_sync_mode_and_tells_analytics(own_stack):
    from analytics import client

    stack = own_stack
    _, address = stack.start_analytics()
    stack.start_web(TIGLE_WRITE_MODE="sync", ANALYTICS_ADDRESS=address)
    sent = purchases_stream(stack.base, 100, threads=4)
    stack.web.stop()  # at once: what it saw confirmed it forgets before it goes
    assert not AnalyticsBacklog.objects.exists()
    assert [one.status for one in sent] == [201] * 100
    # No worker runs: every row was committed before its 201.
    rows = database_purchases(stack.database_url)
    assert len(rows) == 100
    assert_written_exactly(sent, rows)
    # Analytics counts them once, and nothing waits in purchases.db for a second write.
    wait_until(lambda: client.stats(address)["purchases"] >= 100, 30, "analytics counted all")
    units = sum(quantity for one in sent for _, quantity in one.items)
    assert (client.stats(address)["purchases"], client.stats(address)["units"]) == (100, units)
    with Connection(stack.env["CELERY_BROKER_URL"]) as connection:
        assert queue_depth(connection, DB_QUEUE) == 0


def test_a_queue_mode_worker_sends_on_what_a_sync_mode_run_left_for_analytics(own_stack):
    from analytics import client

    stack = own_stack
    _, address = stack.start_analytics()
    left, = [event_new(store_id=9, customer_id=9000, date=datetime.date(2021, 1, 1),
                       items=[(19, 3)])]
    kept_long_ago([left])
    stack.start_worker()
    wait_until(lambda: client.stats(address)["purchases"] == 1, 30, "the left purchase counted")
    wait_until(lambda: not AnalyticsBacklog.objects.exists(), 10, "the backlog forgotten")
    assert client.stats(address)["units"] == 3


def test_it_works_on_the_embedded_defaults(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "DJANGO_SECRET_KEY")}
    env["TIGLE_VAR_DIR"] = str(tmp_path / "var")
    database_url = f"sqlite://{tmp_path}/var/tigle.sqlite3"
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], env=env, check=True, cwd=ROOT)
    worker = worker_start(env, tmp_path / "logs")
    web, base = web_start(env, tmp_path / "logs")
    try:
        sent = purchases_stream(base, 100, threads=4)
        assert [one.status for one in sent] == [201] * 100
        wait_until(lambda: len(database_purchases(database_url)) >= 100, 60, "all rows")
        rows = database_purchases(database_url)
        assert len(rows) == 100
        assert_written_exactly(sent, rows)
    finally:
        web.stop()
        worker.stop()
