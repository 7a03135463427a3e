"""Rebuilding from the database: counts equal the rows, and the snapshot tells what it holds."""
import datetime
import random
import uuid

import pytest

from analytics.rebuild import matrix_rebuild, mysql_ssl
from analytics.tests import brute
from purchases.events import event_new
from purchases.mysql_tls import mysql_ssl as web_mysql_ssl
from purchases.services import purchases_bulk_create


def events_random(count: int, seed: int):
    rng = random.Random(seed)
    return [
        event_new(store_id=(store := rng.randint(1, 30)), customer_id=store * 1000,
                  date=datetime.date(2021, 1, 1),
                  items=[(rng.randint(1, 200), rng.randint(1, 4)) for _ in range(rng.randint(1, 5))])
        for _ in range(count)
    ]


def test_it_rebuilds_the_counts_from_mariadb(transactional_db, test_database_url):
    before = events_random(302, seed=1)
    purchases_bulk_create(events=before[:300])
    # Sync mode, not yet confirmed on the stream: to be counted from it later.
    waiting = before[300:]
    purchases_bulk_create(events=waiting, keep_for_analytics=True)
    before = before[:300]
    matrix, snapshot = matrix_rebuild(test_database_url)
    try:
        later = events_random(50, seed=2)
        purchases_bulk_create(events=later)  # committed after the snapshot was taken
        totals = brute.counts((e.store_id, e.items) for e in before)
        assert matrix.totals().purchases == 300
        assert matrix.totals().units == sum(totals.values())
        for store_id in range(1, 31):
            assert matrix.top_items(store_id, 10) == brute.top_items(totals, store_id, 10)
        for item_id in range(1, 201, 7):
            assert matrix.top_stores(item_id, 5) == brute.top_stores(totals, item_id, 5)
        asked = ([e.id for e in before[:20]] + [e.id for e in later[:20]] + [str(uuid.uuid4())]
                 + [e.id for e in waiting])
        assert snapshot.already_counted(asked) == {e.id for e in before[:20]}
    finally:
        snapshot.close()


def test_it_rebuilds_from_the_embedded_sqlite_file(tmp_path):
    import sqlite3

    path = tmp_path / "tigle.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(
            "CREATE TABLE purchases_purchase (id INTEGER PRIMARY KEY, purchase_id char(32), "
            "store_id INTEGER); CREATE TABLE purchases_purchaseitem (id INTEGER PRIMARY KEY, "
            "purchase_id INTEGER, item_id INTEGER, quantity INTEGER); "
            "CREATE TABLE purchases_analyticsbacklog (purchase_id char(32) PRIMARY KEY);")
        kept = uuid.uuid4()
        db.execute("INSERT INTO purchases_purchase VALUES (1, ?, 4)", (kept.hex,))
        db.executemany("INSERT INTO purchases_purchaseitem (purchase_id, item_id, quantity) "
                       "VALUES (1, ?, ?)", [(9, 2), (8, 2), (9, 1)])
    matrix, snapshot = matrix_rebuild(f"sqlite:///{path}")
    try:
        assert matrix.top_items(4, 10) == [(9, 3), (8, 2)]
        assert matrix.totals().purchases == 1
        assert snapshot.already_counted([str(kept), str(uuid.uuid4())]) == {str(kept)}
    finally:
        snapshot.close()


@pytest.mark.parametrize("url", [
    "mysql://u:p@db:3306/tigle",
    "mysql://u:p@db:3306/tigle?ssl_ca=/etc/ssl/rds.pem",
    "mysql://u:p@db/tigle?charset=utf8mb4&ssl_ca=%2Fa%20b.pem&ssl_ca=/second.pem",
])
def test_it_asks_mysql_for_tls_as_web_and_worker_do(url):
    assert mysql_ssl(url) == web_mysql_ssl(url)
