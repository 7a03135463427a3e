"""make bench's admin part: the staff's purchase list, its filters and a search by purchase
ID on a table of millions of purchases, each page's p95 against a target.

    python -m loadtest.bench_admin [--rows N] [--items-per-purchase N] [--keep]

The purchases and their items go into a scratch database of its own, written by MariaDB
itself (INSERT ... SELECT over a numbers table: no row crosses the connection), with the
secondary indexes added after the rows, as a sort, instead of one random insert per row.
Then a process of its own, set up on that database, asks each page through Django's test
client (the whole admin view, template included, no network) several times.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable

from loadtest.bench_probes import MYSQL
from loadtest.service_admin import mysql_execute
from loadtest.report import percentile
from loadtest.stack import ROOT

DATABASE = "tigle_bench_admin"
TARGET_MS = 300
STORES, DAYS, CUSTOMERS = 1024, 365, 1000
CHUNK = 1_000_000  # rows per statement: bounded undo log, and progress to print
REPEATS = 20
PURCHASES, ITEMS = "purchases_purchase", "purchases_purchaseitem"


def _mysql(sql: str) -> list[tuple]:
    """One statement, committed (the loads are INSERTs), on the bench's server."""
    return mysql_execute(MYSQL, sql)


def purchase_uuid(n: int) -> str:
    """The purchase ID the load gives purchase n: MD5(n) made a version-4 UUID, as the SQL
    below computes it (MariaDB's UUID column refuses other variants)."""
    import hashlib

    h = hashlib.md5(str(n).encode()).hexdigest()
    return str(uuid.UUID(h[:12] + "4" + h[13:16] + "8" + h[17:]))


def _uuid_sql(n: str) -> str:
    return (f"CONCAT(LEFT(MD5({n}), 12), '4', SUBSTRING(MD5({n}), 14, 3), '8', "
            f"SUBSTRING(MD5({n}), 18))")


def store_of(n: int) -> int:
    return 1 + n % STORES


def indexes_drop(table: str, keep: tuple[str, ...] = ()) -> list[str]:
    """Drop a table's secondary indexes but those on the columns in keep; their definitions."""
    create = _mysql(f"SHOW CREATE TABLE {DATABASE}.{table}")[0][1]
    dropped = []
    for line in create.splitlines():
        line = line.strip().rstrip(",")
        if line.startswith(("KEY ", "UNIQUE KEY ")) and not any(f"(`{c}`)" in line for c in keep):
            _mysql(f"ALTER TABLE {DATABASE}.{table} DROP INDEX `{line.split('`')[1]}`")
            dropped.append(line)
    return dropped


def rows_load(rows: int, items_per_purchase: int) -> float:
    """Fill the scratch database: rows purchases, items_per_purchase items each; seconds taken."""
    started = time.monotonic()
    _mysql(f"CREATE TABLE {DATABASE}.bench_n (i INT PRIMARY KEY)")
    digits = " UNION ALL ".join(f"SELECT {d} d" for d in range(10))
    _mysql(f"INSERT INTO {DATABASE}.bench_n SELECT a.d + 10*b.d + 100*c.d + 1000*e.d "
           f"FROM ({digits}) a, ({digits}) b, ({digits}) c, ({digits}) e")
    # The item index stays: the foreign key needs it, and items arrive in its order anyway.
    dropped = {PURCHASES: indexes_drop(PURCHASES), ITEMS: indexes_drop(ITEMS, ("purchase_id",))}
    for low in range(0, rows, CHUNK):
        # n = 1..rows; dates advance with n, as the table fills day after day.
        n = "(a.i * 10000 + b.i + 1)"
        _mysql(f"INSERT INTO {DATABASE}.{PURCHASES} "
               "(id, purchase_id, store_id, customer_id, date, created_at) "
               f"SELECT {n}, {_uuid_sql(n)}, 1 + {n} % {STORES}, "
               f"(1 + {n} % {STORES}) * 1000 + ({n} DIV {STORES}) % {CUSTOMERS}, "
               f"DATE('2021-01-01') + INTERVAL ({n} * {DAYS} DIV ({rows} + 1)) DAY, "
               f"TIMESTAMP('2021-01-01 09:00:00') + INTERVAL ({n} * {DAYS} DIV ({rows} + 1)) DAY "
               f"FROM {DATABASE}.bench_n a JOIN {DATABASE}.bench_n b "
               f"WHERE a.i BETWEEN {low // 10000} AND {(low + CHUNK) // 10000 - 1} "
               f"AND {n} <= {rows}")
        _mysql(f"INSERT INTO {DATABASE}.{ITEMS} (purchase_id, item_id, quantity) "
               f"SELECT p.id, 1 + (p.id * 7919 + k.i * 104729) % 100000, 1 + k.i "
               f"FROM {DATABASE}.{PURCHASES} p JOIN {DATABASE}.bench_n k "
               f"WHERE p.id > {low} AND p.id <= {min(low + CHUNK, rows)} "
               f"AND k.i < {items_per_purchase}")
        print(f"  admin: {min(low + CHUNK, rows):,} of {rows:,} purchases loaded, "
              f"{time.monotonic() - started:.0f} s", flush=True)
    for table, definitions in dropped.items():
        if definitions:
            _mysql(f"ALTER TABLE {DATABASE}.{table} "
                   + ", ".join(f"ADD {d}" for d in definitions))
        _mysql(f"ANALYZE TABLE {DATABASE}.{table}")
    _mysql(f"DROP TABLE {DATABASE}.bench_n")
    return round(time.monotonic() - started, 1)


def pages(rows: int, rng: random.Random) -> dict[str, Callable[[], str]]:
    """Each page measured: a label and a function giving the next URL to ask."""
    base = "/admin/purchases/purchase/"

    def some() -> int:
        return rng.randint(1, rows)

    def day_of(n: int) -> str:
        day = n * DAYS // (rows + 1)
        return time.strftime("%Y-%m-%d", time.gmtime(1609459200 + day * 86400))

    return {
        "list": lambda: base,
        "list, page 100": lambda: f"{base}?p=100",
        "filter: store": lambda: f"{base}?store={store_of(some())}",
        "filter: date": lambda: f"{base}?day={day_of(some())}",
        "filter: store and date": lambda: (lambda n: f"{base}?store={store_of(n)}"
                                           f"&day={day_of(n)}")(some()),
        "search: purchase ID": lambda: f"{base}?q={purchase_uuid(some())}",
        "search: customer ID": lambda: f"{base}?q="
                               f"{store_of(some()) * 1000 + rng.randrange(CUSTOMERS)}",
        "one purchase with its items": lambda: f"{base}{some()}/change/",
    }


def measure(rows: int, repeats: int) -> list[dict]:
    """In a process set up on the scratch database: each page's latency, repeats times."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tigle_project.settings")
    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client

    user, _ = get_user_model().objects.get_or_create(
        username="bench", defaults={"is_staff": True, "is_superuser": True})
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    rng = random.Random(7)
    results = []
    for label, next_url in pages(rows, rng).items():
        client.get(next_url())  # the first answer also compiles templates: not a staff's wait
        times = []
        for _ in range(repeats):
            url = next_url()
            started = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"{label}: {url} answered {response.status_code}")
            if "purchase ID" in label and url.split("q=")[1] not in response.content.decode():
                raise RuntimeError(f"{label}: {url} did not find the purchase")
        ordered = sorted(times)
        results.append({"page": label, "p50_ms": round(statistics.median(ordered), 1),
                        "p95_ms": round(percentile(ordered, 95), 1),
                        "max_ms": round(ordered[-1], 1),
                        "ok": percentile(ordered, 95) <= TARGET_MS})
    return results


def admin_bench(rows: int, items_per_purchase: int = 2, keep: bool = False) -> dict:
    """Load, measure, and (unless keep) drop the scratch database; the figures."""
    env = {**os.environ, "DATABASE_URL": f"{MYSQL}/{DATABASE}",
           "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY", "bench-admin"),
           "DJANGO_SETTINGS_MODULE": "tigle_project.settings"}
    _mysql(f"DROP DATABASE IF EXISTS {DATABASE}")
    _mysql(f"CREATE DATABASE {DATABASE} CHARACTER SET utf8mb4")
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env,
                       check=True)
        load_s = rows_load(rows, items_per_purchase)
        answer = subprocess.run(
            [sys.executable, "-m", "loadtest.bench_admin", "--measure", "--rows", str(rows)],
            cwd=ROOT, env=env, check=True, capture_output=True, text=True, timeout=1800)
        measured = json.loads(answer.stdout.strip().splitlines()[-1])
    finally:
        if not keep:
            _mysql(f"DROP DATABASE IF EXISTS {DATABASE}")
    return {"rows": rows, "items_per_purchase": items_per_purchase, "load_s": load_s,
            "target_ms": TARGET_MS, "repeats": REPEATS, "pages": measured}


def admin_table(admin: dict) -> list[str]:
    """BENCHMARKS.md's section for this part."""
    lines = [f"## The admin at {admin['rows']:,} purchases", "",
             f"Staff's purchase list (`/admin/purchases/purchase/`) on a database of "
             f"{admin['rows']:,} purchases with {admin['items_per_purchase']} items each "
             f"(loaded in {admin['load_s']:,} s), each page asked {admin['repeats']} times "
             "through Django's test client (the whole view and template, no network); target: "
             f"p95 at most {admin['target_ms']} ms.", "",
             "| page | p50 ms | p95 ms | max ms | p95 within target |", "|---|---:|---:|---:|---|"]
    lines += [f"| {p['page']} | {p['p50_ms']:.1f} | {p['p95_ms']:.1f} | {p['max_ms']:.1f} | "
              f"{'yes' if p['ok'] else '**no**'} |" for p in admin["pages"]]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.bench_admin", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000, help="purchases to load")
    parser.add_argument("--items-per-purchase", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:  # the child: DATABASE_URL already names the scratch database
        print(json.dumps(measure(args.rows, REPEATS)))
        return 0
    admin = admin_bench(args.rows, args.items_per_purchase, args.keep)
    print("\n".join(admin_table(admin)))
    return 0 if all(p["ok"] for p in admin["pages"]) else 1


if __name__ == "__main__":
    sys.exit(main())
