"""A real database outage under load, not a cut in a proxy: a MariaDB server of the test's
own is stopped with SIGTERM, later killed with kill -9, each time while purchases keep
coming, and started again on the same data folder.

In queue mode the web keeps answering 201 (it needs only the broker) and the worker writes
everything once the database is back; in sync mode the web answers 503 while the database
is down. Either way every 201 is in the database once and counted once by analytics, and
nothing else is written.
"""
from __future__ import annotations

import random
import shutil
import threading
import time
from collections import Counter

import pytest
import requests

from analytics import client
from loadtest.service_admin import mysql_execute
from purchases.events import DB_QUEUE, PARKED_QUEUE
from purchases.tests.helpers import (
    Sent,
    assert_written_exactly,
    database_purchases,
    purchase_post,
    purchase_random,
    queue_column,
    stream_event_ids,
    wait_until,
)
from purchases.tests.mariadb_server import MariaDBServer

pytestmark = pytest.mark.slow

DATABASE = "tigle"
OUTAGE_SECONDS = 3.0
CLIENTS = 4
# Enough load that purchases arrive all through each outage, little enough that two cores
# still run the database, web, worker and analytics.
PAUSE_SECONDS = 0.02
# After a refusal, as a store honouring Retry-After would: a 503 costs the web next to
# nothing, so without a pause the clients would spin.
REFUSED_PAUSE_SECONDS = 0.1


class Load:
    """Purchases POSTed by a few clients from start to stop; every answer kept with its time."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.answers: list[tuple[float, Sent]] = []  # list.append is atomic across threads
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(seed,), daemon=True)
                        for seed in range(CLIENTS)]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(60)

    def _run(self, seed: int) -> None:
        rng = random.Random(seed)
        session = requests.Session()
        while not self.stopping.is_set():
            sent = purchase_post(session, self.base, purchase_random(rng),
                                 legacy_key=rng.random() < 0.5)
            self.answers.append((time.monotonic(), sent))
            self.stopping.wait(PAUSE_SECONDS if sent.status == 201 else REFUSED_PAUSE_SECONDS)

    def answered(self, since: float = 0.0, until: float = float("inf"),
                 status: int | None = None) -> list[Sent]:
        return [sent for at, sent in list(self.answers)
                if since <= at <= until and status in (None, sent.status)]


@pytest.fixture
def outage_stack(own_stack, tmp_path, request):
    """own_stack on a freshly installed and migrated MariaDB server of this test's own."""
    server = MariaDBServer(tmp_path / "mariadb", own_stack.log_dir)
    try:
        server.install()
        server.start()
        url = server.database_migrated(DATABASE, own_stack.env)
        own_stack.env["DATABASE_URL"] = own_stack.database_url = url
        yield own_stack, server
    finally:
        own_stack.stop()  # its processes before their database
        server.close()
        report, log = getattr(request.node, "rep_call", None), own_stack.log_dir / "mariadb.log"
        if report is not None and report.failed and log.exists():
            print(f"--- mariadb.log ---\n{log.read_text()[-3000:]}")
        elif report is not None:
            shutil.rmtree(server.datadir)  # large, and pytest keeps the last runs' folders


def rows(server: MariaDBServer) -> int:
    return mysql_execute(server.url, f"SELECT COUNT(*) FROM `{DATABASE}`.purchases_purchase")[0][0]


def outage(server: MariaDBServer, load: Load, *, kill: bool) -> tuple[float, float]:
    """SIGTERM (or kill -9) the server, keep the load on it for OUTAGE_SECONDS, start it again
    on the same data; returns the window it was down, by the clients' clock."""
    server.statement_seen()  # the fault then cuts a write or a commit midway, likely
    if kill:
        server.kill()
    else:
        server.stop()
    down = time.monotonic()
    wait_until(lambda: time.monotonic() - down >= OUTAGE_SECONDS and len(load.answered(down)) >= 10,
               OUTAGE_SECONDS + 60, "purchases answered while the database is down")
    up = time.monotonic()
    server.start()
    return down, up


def plain(purchase_id: str) -> str:
    return purchase_id.replace("-", "")


def written_once(server: MariaDBServer) -> dict[str, Sent]:
    """Every purchase row, after checking no purchase id has two (the dict would hide them)."""
    total, distinct = mysql_execute(server.url, "SELECT COUNT(*), COUNT(DISTINCT purchase_id) "
                                    f"FROM `{DATABASE}`.purchases_purchase")[0]
    assert total == distinct, f"{total - distinct} purchases written twice"
    return database_purchases(server.url + f"/{DATABASE}")


def counted_once(stack, address: str, written: dict[str, Sent]) -> Counter:
    """Analytics, once through the whole stream, counted exactly the written purchases; how
    often the stream holds each."""
    in_stream = Counter(plain(one) for one in stream_event_ids(stack.env["CELERY_BROKER_URL"]))
    assert set(in_stream) == set(written), "the stream holds a purchase not written, or lacks one"
    # Offsets of a new stream count from 0: this is analytics past its last message.
    wait_until(lambda: client.stats(address)["last_offset"] >= sum(in_stream.values()) - 1, 60,
               "analytics through the whole stream")
    stats = client.stats(address)
    units = sum(quantity for one in written.values() for _, quantity in one.items)
    assert (stats["purchases"], stats["units"]) == (len(written), units)
    return in_stream


def test_it_writes_every_201_once_in_queue_mode_across_a_stopped_and_a_killed_database(
        outage_stack):
    stack, server = outage_stack
    _, address = stack.start_analytics()
    worker = stack.start_worker()
    stack.start_web()
    windows = []
    with Load(stack.base) as load:
        wait_until(lambda: rows(server) >= 50, 60, "the worker writing")
        for kill in (False, True):
            windows.append(outage(server, load, kill=kill))
            accepted_by_then = len(load.answered(status=201))
            wait_until(lambda: rows(server) >= accepted_by_then, 90,
                       "the worker writing again by itself")
    sent = load.answered()

    assert {one.status for one in sent} == {201}, "the web needs only the broker"
    for down, up in windows:
        assert load.answered(down, up, 201), "purchases accepted while the database was down"
    accepted = {plain(one.purchase_id) for one in sent}
    wait_until(lambda: rows(server) >= len(accepted), 90, "the worker draining")
    written = written_once(server)
    assert set(written) == accepted
    assert_written_exactly(sent, written)
    assert worker.running, "the worker must recover without a restart"
    assert "not written" in worker.log_text(), "the outage never reached the worker"
    queues = queue_column(stack.vhost, "messages")
    assert (queues[DB_QUEUE], queues.get(PARKED_QUEUE, "0")) == ("0", "0")
    # Requeued batches went back to purchases.db only, so the stream has each purchase once.
    assert set(counted_once(stack, address, written).values()) == {1}


def test_it_answers_503_in_sync_mode_while_the_database_is_down_and_writes_every_201_once(
        outage_stack):
    stack, server = outage_stack
    _, address = stack.start_analytics()
    # No worker: in sync mode the web writes, and nothing is sent to purchases.db.
    stack.start_web(TIGLE_WRITE_MODE="sync", ANALYTICS_ADDRESS=address)
    windows = []
    with Load(stack.base) as load:
        wait_until(lambda: len(load.answered(status=201)) >= 50, 60, "purchases written")
        for kill in (False, True):
            windows.append(outage(server, load, kill=kill))
            back = time.monotonic()
            wait_until(lambda: len(load.answered(back, status=201)) >= 10, 60,
                       "the web writing again by itself")
    sent = load.answered()

    assert {one.status for one in sent} == {201, 503}
    for down, up in windows:
        assert load.answered(down, up, 503), "a purchase refused while the database was down"
    written = written_once(server)
    assert_written_exactly(sent, written)
    # A 503 leaves the outcome open (the commit may be what the outage cut short): a row
    # beyond the 201s must be one of those purchases, never anything else.
    refused = Counter(_content(one) for one in sent if one.status == 503)
    accepted = {plain(one.purchase_id) for one in sent if one.status == 201}
    beyond = Counter(_content(one) for purchase_id, one in written.items()
                     if purchase_id not in accepted)
    assert not beyond - refused, "rows that no request asked for"
    # The outbox (purchases/analytics_backlog.py) is empty once the stream has every row.
    wait_until(lambda: mysql_execute(
        server.url, f"SELECT COUNT(*) FROM `{DATABASE}`.purchases_analyticsbacklog")[0][0] == 0,
        60, "the analytics backlog sent")
    counted_once(stack, address, written)


def _content(sent: Sent) -> tuple:
    return sent.store_id, sent.customer_id, sent.date, tuple(sent.items)
