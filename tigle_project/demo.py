"""make demo: start web, worker and analytics, send a burst of purchases, check every 201
became a row, print the top-N answers and check that analytics' counts equal the database's.

Runs on the embedded defaults (SQLite and the filesystem broker under var/) unless
DATABASE_URL / CELERY_BROKER_URL point elsewhere. Exits non-zero if anything disagrees.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

from collections import Counter
from pathlib import Path

from tigle_project.stack import ROOT, analytics_start, web_start, worker_start

PURCHASES = int(os.environ.get("DEMO_PURCHASES", "600"))
STORES = 8
# A small catalogue, so that the rankings have something to rank.
ITEMS = 300


def purchase_send(base: str, rng: random.Random) -> tuple[int, str | None, dict]:
    store = rng.randint(1, STORES)
    sent = {
        "store_id": store,
        "customer_id": store * 1000 + rng.randrange(1000),
        "items": [[rng.randrange(1, ITEMS), rng.randint(1, 3)] for _ in range(5)],
    }
    body = json.dumps({"items": [{"ItemID": str(i), "numberOfItems:": q} for i, q in sent["items"]]})
    request = urllib.request.Request(
        f"{base}/purchase/{store}/customer/{sent['customer_id']}/date/20210101",
        data=body.encode(), headers={"Content-Type": "application/json"}, method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)["purchaseID"], sent
    except urllib.error.HTTPError as error:
        return error.code, None, sent


def database_rows(purchase_ids: list[str]) -> dict[str, tuple]:
    from purchases.models import Purchase

    found = {}
    ids = [uuid.UUID(p) for p in purchase_ids]
    for start in range(0, len(ids), 500):
        chunk = Purchase.objects.filter(purchase_id__in=ids[start:start + 500]).prefetch_related("items")
        for purchase in chunk:
            items = [[i.item_id, i.quantity] for i in sorted(purchase.items.all(), key=lambda i: i.pk)]
            found[str(purchase.purchase_id)] = (purchase.store_id, purchase.customer_id, items)
    return found


def ranked(pairs, n: int) -> list[list[int]]:
    return [list(p) for p in sorted(pairs, key=lambda pair: (-pair[1], pair[0]))[:n]]


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def ranking_check(url: str, title: str, key: str, expected: list[list[int]]) -> list[str]:
    """Print a REST ranking; a problem unless it equals the one computed from the database."""
    answer = get_json(url)["stores"]
    print(f"GET /{url.split('/', 3)[3]}: {title}")
    for one in answer:
        print(f"  {key} {one[key]:>6}  {one['numberOfItems']:>5} units")
    if [[one[key], one["numberOfItems"]] for one in answer] != expected:
        return [f"{title}: REST {answer}, database {expected}"]
    return []


def database_totals() -> tuple[int, Counter]:
    """Every purchase in the database: how many, and units per (store, item)."""
    from django.db.models import Sum

    from purchases.models import Purchase, PurchaseItem

    totals: Counter = Counter()
    per_pair = PurchaseItem.objects.values_list("purchase__store_id", "item_id").annotate(Sum("quantity"))
    for store, item, quantity in per_pair:
        totals[store, item] = quantity
    return Purchase.objects.count(), totals


def analytics_check(base: str, address: str, deadline: float) -> list[str]:
    """Wait until analytics counted every row, then compare its answers with the database."""
    from analytics import client

    purchases, totals = database_totals()
    while client.stats(address)["purchases"] < purchases and time.monotonic() < deadline:
        time.sleep(0.2)
    stats = client.stats(address)
    print(f"analytics: {stats['purchases']} purchases, {stats['units']} units, "
          f"{stats['stores']} stores, {stats['items']} items, last offset {stats['last_offset']}")
    problems = []
    if (stats["purchases"], stats["units"]) != (purchases, sum(totals.values())):
        problems.append(f"analytics counts {stats['purchases']} purchases / {stats['units']} "
                        f"units, the database {purchases} / {sum(totals.values())}")
    store = 1
    expected = ranked([(i, q) for (s, i), q in totals.items() if s == store], 10)
    problems += ranking_check(f"{base}/items/store/{store}", f"top 10 items of store {store}",
                              "itemID", expected)
    item = expected[0][0] if expected else 1
    expected = ranked([(s, q) for (s, i), q in totals.items() if i == item], 5)
    problems += ranking_check(f"{base}/items/top5/{item}", f"top 5 stores of item {item}",
                              "storeID", expected)
    return problems


def main() -> int:
    if not {"DATABASE_URL", "CELERY_BROKER_URL"} & set(os.environ):
        # Each embedded demo starts from nothing, so its counts are its own.
        var = ROOT / "var" / "demo-embedded"
        shutil.rmtree(var, ignore_errors=True)
        os.environ["TIGLE_VAR_DIR"] = str(var)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tigle_project.settings")
    import django

    django.setup()
    from django.conf import settings

    mode = "embedded (SQLite + filesystem broker)" if settings.EMBEDDED else "configured services"
    print(f"Tigle demo on {mode}; logs in {settings.VAR_DIR / 'demo'}")
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True)
    env = dict(os.environ)
    log_dir = settings.VAR_DIR / "demo"
    worker = worker_start(env, log_dir)
    # A new analytics of the demo's own replays the whole stream into an empty state.
    state_dir = Path(tempfile.mkdtemp(prefix="tigle-demo-analytics-"))
    analytics, address = analytics_start(env, log_dir, state_dir=state_dir)
    web, base = web_start({**env, "ANALYTICS_ADDRESS": address}, log_dir)
    try:
        print(f"web at {base}; sending {PURCHASES} purchases from 8 threads ...")
        rngs = [random.Random(seed) for seed in range(PURCHASES)]
        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda rng: purchase_send(base, rng), rngs))
        sent_seconds = time.monotonic() - started
        accepted = {pid: sent for status, pid, sent in results if status == 201}
        print(f"accepted {len(accepted)}/{PURCHASES} in {sent_seconds:.2f}s "
              f"({len(accepted) / sent_seconds:.0f}/s)")
        deadline = time.monotonic() + 120
        rows = database_rows(list(accepted))
        while len(rows) < len(accepted) and time.monotonic() < deadline:
            time.sleep(0.5)
            rows = database_rows(list(accepted))
        total = time.monotonic() - started
        print(f"in the database: {len(rows)}/{len(accepted)} after {total:.2f}s "
              f"({len(rows) / total:.0f} purchases/s end to end)")
        wrong = [
            pid for pid, sent in accepted.items()
            if rows.get(pid) != (sent["store_id"], sent["customer_id"], sent["items"])
        ]
        problems = analytics_check(base, address, deadline)
    finally:
        web.stop()
        worker.stop()
        analytics.stop()
        shutil.rmtree(state_dir, ignore_errors=True)
    if len(accepted) != PURCHASES or wrong:
        problems.append(f"{PURCHASES - len(accepted)} refused, {len(wrong)} missing or different")
    if problems:
        print("FAILED:\n  " + "\n  ".join(problems))
        return 1
    print("OK: every 201 is a row with the same store, customer and items, and analytics' "
          "counts and rankings equal the database's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
