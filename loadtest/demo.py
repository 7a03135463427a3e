"""make demo: the main job. Start web, worker and analytics, replay a short store day with the
Locust client, print its report, wait until the database and analytics hold every accepted
purchase, print the top-10 items of a store and the top-5 stores of an item, and check that
every count agrees.

Runs on the embedded defaults (SQLite and the filesystem broker under var/) unless
DATABASE_URL / CELERY_BROKER_URL point elsewhere. Exits non-zero if anything disagrees.
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path

from loadtest.results import REPORT, REQUESTS_CSV, run_dir_new
from loadtest.stack import ROOT, analytics_start, web_start, worker_start

# A short day: 8 stores x 9 hours x 60 purchases (the seed's first rate), over a small
# catalogue so that the rankings have something to rank.
DAY = ["--max-stores", "8", "--num-purchases", os.environ.get("DEMO_PER_HOUR", "60"),
       "--max-item-id", "300", "--items-per-purchase", "5"]
# Each demo's report, CSV and charts go into a new folder under this one (tests: their own).
RESULTS_ROOT = Path(os.environ.get("DEMO_RESULTS") or ROOT / "results")


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


def store_day_run(base: str, results: Path) -> dict:
    """The Locust client, headless, as a user would run it; its report."""
    command = [sys.executable, "-m", "locust", "-f", "loadtest/locustfile.py", "--headless",
               "--host", base, *DAY, "--requests-csv", str(results / REQUESTS_CSV),
               "--report", str(results / REPORT), "--only-summary"]
    # As it can be run again from the project's folder.
    python = Path(sys.executable)
    shown = [str(python.relative_to(ROOT) if python.is_relative_to(ROOT) else python),
             *command[1:]]
    print(f"store day: {shlex.join(shown)}", flush=True)
    # Exit 1 means failed requests or stores that did not close: the checks below say which.
    subprocess.run(command, cwd=ROOT, check=False, timeout=900)
    return json.loads((results / REPORT).read_text())


def report_accepted_per_store(results: Path) -> Counter:
    from loadtest.report import csv_read

    return Counter(r.store_id for r in csv_read(results / REQUESTS_CSV) if r.status == 201)


def stores_in_database() -> Counter:
    from django.db.models import Count

    from purchases.models import Purchase

    return Counter(dict(Purchase.objects.values_list("store_id").annotate(Count("id"))))


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
        before = stores_in_database()
        # The folder is named here, as the demo reads the CSV back from it.
        stores = int(DAY[DAY.index("--max-stores") + 1])
        results = run_dir_new(RESULTS_ROOT, stores, time.time(), label="demo")
        report = store_day_run(base, results)
        accepted = report_accepted_per_store(results)
        problems = [] if report["failed"] == 0 else [f"{report['failed']} requests failed"]
        deadline = time.monotonic() + 120
        written = stores_in_database() - before
        while written != accepted and time.monotonic() < deadline:
            time.sleep(0.5)
            written = stores_in_database() - before
        print(f"in the database: {sum(written.values())} of {sum(accepted.values())} accepted "
              "purchases, store by store")
        if written != accepted:
            problems.append(f"per store, accepted {dict(accepted)} but written {dict(written)}")
        problems += analytics_check(base, address, deadline)
    finally:
        web.stop()
        worker.stop()
        analytics.stop()
        shutil.rmtree(state_dir, ignore_errors=True)
    if problems:
        print("FAILED:\n  " + "\n  ".join(problems))
        return 1
    print("OK: every accepted purchase is in the database, store by store, and analytics' "
          "counts and rankings equal the database's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
