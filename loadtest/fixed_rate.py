"""Latency as a person waits for it: purchases sent at evenly spaced times (open loop).

A closed-loop client (the store day) waits for each answer before its next request, so its
latency is just open stores / throughput. Here arrivals do not wait: the i-th purchase is due
at start + i / rate, whatever the answers' pace, and its latency counts from when it was due,
so time spent queued behind a slow answer is counted too (no coordinated omission).

The first --warmup seconds are sent the same way but left out of the latencies: they meet
processes that have not yet opened their broker connection or run their first request, which
a store meets once per deployment, not once per purchase. Counts and wall time cover them.

With --realtime the client runs at real-time priority and passes the GIL between its
threads more often, as a client on a machine of its own would: it reads each answer as soon
as it comes instead of waiting its turn behind the stack it measures on the same cores.

    python -m loadtest.fixed_rate --host URL --rate N --seconds S [--warmup W]
                                  [--connections C] [--report PATH] [--realtime]
                                  [--requests-csv PATH]
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import random
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from loadtest.report import Record, csv_write, report_build
from loadtest.stack import REALTIME_PRIORITY
from loadtest.stores import DayParams, purchase_draw

STORES = 256
# The GIL's hand-over between the senders under --realtime (Python's default is 5 ms).
REALTIME_SWITCH_SECONDS = 0.0005
PARAMS = DayParams(max_stores=STORES)


def _purchase(rng: random.Random) -> tuple[int, str, bytes]:
    store = rng.randrange(1, STORES + 1)
    customer, items = purchase_draw(store, PARAMS, rng)
    body = json.dumps({"items": [{"ItemID": str(i), "numberOfItems": 1} for i in items]})
    return store, f"/purchase/{store}/customer/{customer}/date/{PARAMS.date}", body.encode()


LATENCY_KEYS = ("mean_ms", "median_ms", "p99_ms", "max_ms")


def _sender(host: str, port: int, due: queue.Queue, records: list[Record],
            warmup: list[Record], seed: int) -> None:
    """One kept-alive connection: sends each due purchase as soon as it is free."""
    rng = random.Random(seed)
    connection = http.client.HTTPConnection(host, port, timeout=30)
    while (job := due.get()) is not None:
        due_at, measured = job
        store, path, body = _purchase(rng)
        status = 0
        try:
            connection.request("POST", path, body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            status = response.status
        except OSError:
            connection.close()  # reconnects on the next request
        latency_ms = (time.monotonic() - due_at) * 1000
        (records if measured else warmup).append(
            Record(time.time() - latency_ms / 1000, "POST", latency_ms, status, store, 0))
    connection.close()


def fixed_rate_run(base: str, *, rate: float, seconds: float, connections: int = 10,
                   warmup: float = 0.0, csv_path: Path | None = None) -> dict:
    """The report (report.py's keys, plus rate, connections and warmup_s) of one open-loop
    run: latencies from the measured seconds, counts and wall time from the whole run.
    csv_path: every request, warm-up included, one line each (the Locust client's format)."""
    parts = urlsplit(base)
    due: queue.Queue = queue.Queue()
    records: list[Record] = []
    warmed: list[Record] = []
    senders = [threading.Thread(target=_sender, args=(parts.hostname, parts.port or 80, due,
                                                      records, warmed, n), daemon=True)
               for n in range(connections)]
    for sender in senders:
        sender.start()
    start = time.monotonic() + 0.2
    first_measured = int(rate * warmup)
    for i in range(first_measured + int(rate * seconds)):
        due_at = start + i / rate
        pause = due_at - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        due.put((due_at, i >= first_measured))
    for _ in senders:
        due.put(None)
    for sender in senders:
        sender.join()
    whole = report_build(warmed + records)
    if csv_path is not None:
        csv_write(warmed + records, csv_path)
    measured = report_build(records)
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
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--report", type=Path, help="also write the report here (JSON)")
    parser.add_argument("--requests-csv", type=Path,
                        help="one line per request: when it was due, its latency and status")
    parser.add_argument("--realtime", action="store_true",
                        help="real-time priority (needs root or CAP_SYS_NICE)")
    args = parser.parse_args(argv)
    if args.realtime:
        # Before the sender threads start: they inherit the policy.
        os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(REALTIME_PRIORITY))
        sys.setswitchinterval(REALTIME_SWITCH_SECONDS)
    report = fixed_rate_run(args.host, rate=args.rate, seconds=args.seconds,
                            connections=args.connections, warmup=args.warmup,
                            csv_path=args.requests_csv)
    text = json.dumps(report, indent=2)
    if args.report:
        args.report.write_text(text + "\n")
    print(text)
    return 0 if report["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
