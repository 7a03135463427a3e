"""make demo: start web and worker, send a burst of purchases, check every 201 became a row.

Runs on the embedded defaults (SQLite and the filesystem broker under var/) unless
DATABASE_URL / CELERY_BROKER_URL point elsewhere. Exits non-zero if anything disagrees.
"""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

from tigle_project.stack import ROOT, web_start, worker_start

PURCHASES = int(os.environ.get("DEMO_PURCHASES", "600"))
STORES = 8


def purchase_send(base: str, rng: random.Random) -> tuple[int, str | None, dict]:
    store = rng.randint(1, STORES)
    sent = {
        "store_id": store,
        "customer_id": store * 1000 + rng.randrange(1000),
        "items": [[rng.randrange(1, 100_000), 1] for _ in range(5)],
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


def main() -> int:
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
    web, base = web_start(env, log_dir)
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
    finally:
        web.stop()
        worker.stop()
    if len(accepted) != PURCHASES or wrong:
        print(f"FAILED: {PURCHASES - len(accepted)} refused, {len(wrong)} missing or different")
        return 1
    print("OK: every 201 is a row with the same store, customer and items")
    return 0


if __name__ == "__main__":
    sys.exit(main())
