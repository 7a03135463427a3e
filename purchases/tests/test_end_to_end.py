"""Purchases POSTed through gunicorn reach the database through the broker and the worker."""
import os
import subprocess
import sys

import pytest
from kombu import Connection

from purchases.events import DB_QUEUE, PARKED_QUEUE
from purchases.tests.conftest import queue_depth
from purchases.tests.helpers import (
    assert_written_exactly,
    database_purchases,
    not_a_purchase_publish,
    purchases_stream,
    wait_until,
)
from tigle_project.stack import ROOT, web_start, worker_start

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


@pytest.mark.parametrize("durable", ["1", "0"], ids=["durable", "transient"])
def test_the_worker_parks_a_message_that_is_not_a_purchase(stack, broker, durable):
    """Parking publishes with a confirm in both modes (transient: on a channel of its own)."""
    broker.default_channel.queue_purge(PARKED_QUEUE)
    stack.start_worker(TIGLE_DURABLE=durable)
    not_a_purchase_publish(broker, DB_QUEUE)
    wait_until(lambda: queue_depth(broker, PARKED_QUEUE) == 1, 30, "the message parked")
    assert queue_depth(broker, DB_QUEUE) == 0
    assert "parking message" in stack.worker.log_text()


def test_it_writes_inside_the_request_in_sync_mode_and_tells_analytics(own_stack):
    from analytics import client

    stack = own_stack
    _, address = stack.start_analytics()
    stack.start_web(TIGLE_WRITE_MODE="sync", ANALYTICS_ADDRESS=address)
    sent = purchases_stream(stack.base, 100, threads=4)
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
