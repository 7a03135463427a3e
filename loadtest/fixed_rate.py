"""Latency as a person waits for it: purchases sent at evenly spaced times (open loop).

A closed-loop client (the store day) waits for each answer before its next request, so its
latency is just open stores / throughput. Here arrivals do not wait: the i-th purchase is due
at start + i / rate, whatever the answers' pace, and its latency counts from when it was due,
so time spent queued behind a slow answer is counted too (no coordinated omission).

One thread drives every connection (h11 on non-blocking sockets): the client shares the
cores with the stack it measures, and a thread per connection cost it several times the CPU
per request. A due purchase goes out on any idle kept-alive connection, as a till's would on
its store's; with none idle it waits, and that wait is in its latency.

The first --warmup seconds are sent the same way but left out of the latencies: they meet
processes that have not yet opened their broker connection or run their first request, which
a store meets once per deployment, not once per purchase. Counts and wall time cover them.

With --realtime the client runs at real-time priority, as a client on a machine of its own
would: it reads each answer as soon as it comes instead of waiting its turn behind the stack
it measures on the same cores.

    python -m loadtest.fixed_rate --host URL --rate N --seconds S [--warmup W]
                                  [--connections C] [--report PATH] [--realtime]
                                  [--requests-csv PATH]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from loadtest.http_pool import ConnectionPool, Request
from loadtest.report import Record, csv_write, report_build
from loadtest.stack import REALTIME_PRIORITY
from loadtest.stores import DayParams, purchase_draw

STORES = 256
PARAMS = DayParams(max_stores=STORES)
LATENCY_KEYS = ("mean_ms", "median_ms", "p99_ms", "max_ms")
# A request unanswered this long after it went out fails (status 0), as http.client's would.
ANSWER_TIMEOUT_SECONDS = 30


def _purchases(count: int, seed: int = 0, keyed: bool = False) -> list[Request]:
    """Drawn before the clock starts, so that the measured seconds only send and read.
    keyed: each with an Idempotency-Key of its own (random: a rerun must not meet its keys)."""
    rng = random.Random(seed)
    made = []
    for _ in range(count):
        store = rng.randrange(1, STORES + 1)
        customer, items = purchase_draw(store, PARAMS, rng)
        body = json.dumps({"items": [{"ItemID": str(i), "numberOfItems": 1} for i in items]})
        made.append(Request(f"/purchase/{store}/customer/{customer}/date/{PARAMS.date}",
                            body.encode(), store, str(uuid.uuid4()) if keyed else ""))
    return made


def fixed_rate_run(base: str, *, rate: float, seconds: float, connections: int = STORES,
                   warmup: float = 0.0, csv_path: Path | None = None,
                   idempotency_keys: bool = False) -> dict:
    """The report (report.py's keys, plus rate, connections and warmup_s) of one open-loop
    run: latencies from the measured seconds, counts and wall time from the whole run.
    csv_path: every request, warm-up included, one line each (the Locust client's format)."""
    parts = urlsplit(base)
    first_measured = int(rate * warmup)
    purchases = _purchases(first_measured + int(rate * seconds), keyed=idempotency_keys)
    records: list[Record] = []
    with ConnectionPool(parts.hostname, parts.port or 80, connections,
                        timeout=ANSWER_TIMEOUT_SECONDS) as pool:
        start = time.monotonic() + 0.2
        wall_start = time.time() + (start - time.monotonic())
        for answer in pool.run_at(purchases, [start + i / rate for i in range(len(purchases))]):
            records.append(Record(wall_start + answer.due - start, "POST",
                                  answer.latency_s * 1000, answer.status,
                                  purchases[answer.index].store, 0))
    records.sort(key=lambda record: record.start_time)
    if csv_path is not None:
        csv_write(records, csv_path)
    whole = report_build(records)
    measured = report_build(records[first_measured:])
    return {**whole, **{key: measured[key] for key in LATENCY_KEYS}, "rate": rate,
            "connections": connections, "warmup_s": warmup}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.fixed_rate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", required=True, help="base URL, e.g. http://127.0.0.1:8000")
    parser.add_argument("--rate", type=float, required=True, help="purchases per second")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--warmup", type=float, default=0.0,
                        help="seconds sent first and left out of the latencies")
    parser.add_argument("--connections", type=int, default=STORES,
                        help="kept-alive connections (default: one per store)")
    parser.add_argument("--report", type=Path, help="also write the report here (JSON)")
    parser.add_argument("--requests-csv", type=Path,
                        help="one line per request: when it was due, its latency and status")
    parser.add_argument("--realtime", action="store_true",
                        help="real-time priority (needs root or CAP_SYS_NICE)")
    parser.add_argument("--idempotency-keys", action="store_true",
                        help="each purchase with an Idempotency-Key of its own")
    args = parser.parse_args(argv)
    if args.realtime:
        os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(REALTIME_PRIORITY))
    report = fixed_rate_run(args.host, rate=args.rate, seconds=args.seconds,
                            connections=args.connections, warmup=args.warmup,
                            csv_path=args.requests_csv, idempotency_keys=args.idempotency_keys)
    text = json.dumps(report, indent=2)
    if args.report:
        args.report.write_text(text + "\n")
    print(text)
    return 0 if report["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
