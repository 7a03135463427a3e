"""Shared by the tests that drive real processes: send purchases, read what got written."""
from __future__ import annotations

import json
import random
import sqlite3
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import MySQLdb
import requests
from kombu import Connection

from purchases.events import TASK_NAME


@dataclass
class Sent:
    store_id: int
    customer_id: int
    date: str
    items: list[tuple[int, int]]
    status: int = 0
    purchase_id: str | None = None


def not_a_purchase_publish(connection: Connection, queue: str) -> None:
    """A task message of purchases.record whose argument is no purchase: the worker parks it."""
    connection.Producer().publish(
        json.dumps([[{"v": 1, "id": "nope"}], {}, {}]), routing_key=queue,
        content_type="application/json", content_encoding="utf-8",
        headers={"task": TASK_NAME, "id": "x"})


def purchase_random(rng: random.Random, legacy_key: bool = False) -> Sent:
    store = rng.randint(1, 40)
    items = [(rng.randint(1, 100_000), rng.randint(1, 5)) for _ in range(rng.randint(1, 6))]
    return Sent(store, store * 1000 + rng.randrange(1000), f"2021{rng.randint(1, 12):02d}15", items)


def purchase_post(session: requests.Session, base: str, sent: Sent, legacy_key: bool = False,
                  **headers: str) -> Sent:
    key = "numberOfItems:" if legacy_key else "numberOfItems"
    body = {"items": [{"ItemID": str(item), key: qty} for item, qty in sent.items]}
    url = f"{base}/purchase/{sent.store_id}/customer/{sent.customer_id}/date/{sent.date}"
    try:
        response = session.post(url, data=json.dumps(body), headers={
            "Content-Type": "application/json", **headers}, timeout=30)
    except requests.RequestException:
        sent.status = -1  # connection lost: outcome unknown
        return sent
    sent.status = response.status_code
    if response.status_code == 201:
        sent.purchase_id = response.json()["purchaseID"]
    return sent


def purchases_stream(base: str, count: int, *, threads: int = 8, seed: int = 1,
                     pause: float = 0.0, on_sent: Callable[[Sent], None] | None = None) -> list[Sent]:
    """POST count random purchases from several threads; each thread keeps one session."""
    rng = random.Random(seed)
    todo = [purchase_random(rng) for _ in range(count)]
    sessions = [requests.Session() for _ in range(threads)]

    def run(index: int) -> Sent:
        sent = purchase_post(sessions[index % threads], base, todo[index], legacy_key=index % 2 == 0)
        if on_sent:
            on_sent(sent)
        if pause:
            time.sleep(pause)
        return sent

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(run, range(count)))


def database_connect(database_url: str):
    parts = urllib.parse.urlsplit(database_url)
    if parts.scheme == "sqlite":
        return sqlite3.connect(parts.path)
    return MySQLdb.connect(host=parts.hostname, port=parts.port or 3306,
                           user=parts.username or "root", passwd=parts.password or "",
                           db=parts.path.lstrip("/"))


def queries_waiting_on_table(database_url: str, table: str) -> int:
    """Statements of any connection that wait for a lock on table (MySQL's process list)."""
    connection = database_connect(database_url)
    try:
        cursor = connection.cursor()
        cursor.execute("SELECT COUNT(*) FROM information_schema.processlist "
                       "WHERE state LIKE 'Waiting for table%%' AND info LIKE %s", [f"%{table}%"])
        return cursor.fetchone()[0]
    finally:
        connection.close()


def database_purchases(database_url: str) -> dict[str, Sent]:
    """Every purchase in the database with its items, read straight from the tables."""
    connection = database_connect(database_url)
    try:
        cursor = connection.cursor()
        cursor.execute("SELECT id, purchase_id, store_id, customer_id, date FROM purchases_purchase")
        purchases = {}
        for pk, purchase_id, store, customer, date in cursor.fetchall():
            purchase_id = str(purchase_id).replace("-", "")
            date = str(date).replace("-", "")
            purchases[pk] = (purchase_id, Sent(int(store), int(customer), date, []))
        cursor.execute("SELECT purchase_id, item_id, quantity FROM purchases_purchaseitem ORDER BY id")
        for pk, item, quantity in cursor.fetchall():
            purchases[pk][1].items.append((int(item), int(quantity)))
    finally:
        connection.close()
    rows = {}
    for purchase_id, sent in purchases.values():
        sent.purchase_id = purchase_id
        rows[purchase_id] = sent
    return rows


def kept_long_ago(events: list) -> None:
    """Sync-mode purchases written and kept for analytics a minute ago: what a broker outage,
    or a web stopped before its confirm, leaves."""
    import datetime

    from django.utils import timezone

    from purchases.models import AnalyticsBacklog
    from purchases.services import purchases_bulk_create

    purchases_bulk_create(events=events, keep_for_analytics=True)
    AnalyticsBacklog.objects.filter(purchase_id__in=[e.id for e in events]).update(
        created_at=timezone.now() - datetime.timedelta(minutes=1))


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)


def assert_written_exactly(sent: list[Sent], rows: dict[str, Sent]) -> None:
    """Every 201 is one row with the same store, customer, date and items."""
    for one in sent:
        if one.status != 201:
            continue
        row = rows.get(one.purchase_id.replace("-", ""))
        assert row is not None, f"accepted purchase {one.purchase_id} missing"
        assert (row.store_id, row.customer_id, row.date) == (one.store_id, one.customer_id, one.date)
        assert row.items == one.items


def stream_event_ids(broker_url: str, idle_seconds: float = 2.0) -> list[str]:
    """Every purchase id in the analytics stream, read from its first offset."""
    from kombu import Connection, Consumer, Queue

    from purchases.broker.topology import analytics_stream

    from_first = Queue(analytics_stream.name, exchange=analytics_stream.exchange, durable=True,
                       routing_key=analytics_stream.routing_key,
                       queue_arguments=analytics_stream.queue_arguments,
                       consumer_arguments={"x-stream-offset": "first"})

    ids: list[str] = []
    with Connection(broker_url) as connection:
        channel = connection.channel()

        def on_message(body, message):
            ids.append(body[0][0]["id"])
            message.ack()

        consumer = Consumer(channel, queues=[from_first], callbacks=[on_message],
                            accept=["json"], prefetch_count=500)
        consumer.consume()
        while True:
            try:
                connection.drain_events(timeout=idle_seconds)
            except TimeoutError:
                break
        channel.close()
    return ids


def queue_column(vhost: str, column: str) -> dict[str, str]:
    """One column of `rabbitmqctl list_queues` for each queue of a vhost, as the broker says."""
    out = subprocess.run(["rabbitmqctl", "-q", "list_queues", "-p", vhost, "name", column],
                         check=True, capture_output=True, text=True, timeout=60).stdout
    return dict(line.split("\t") for line in out.splitlines() if "\t" in line)


def queue_types(vhost: str) -> dict[str, str]:
    """Each queue of a vhost and its type (classic, quorum, stream)."""
    return queue_column(vhost, "type")


def retrying_clients_start(base: str, todo: list[tuple[Sent, str]], *, seconds: float,
                           statuses: list[int] | None = None,
                           clients: int = 6) -> list[threading.Thread]:
    """Clients that POST each (purchase, Idempotency-Key) until a 201, as DESIGN.md allows
    after a 503 or a lost connection, for at most `seconds` in all; join them to finish."""
    deadline = time.monotonic() + seconds

    def run(share: list[tuple[Sent, str]]) -> None:
        session = requests.Session()
        for sent, key in share:
            while True:
                purchase_post(session, base, sent, **{"Idempotency-Key": key})
                if statuses is not None:
                    statuses.append(sent.status)  # list.append is atomic across threads
                if sent.status == 201 or time.monotonic() > deadline:
                    break
                time.sleep(0.2)

    threads = [threading.Thread(target=run, args=(todo[i::clients],)) for i in range(clients)]
    for thread in threads:
        thread.start()
    return threads
