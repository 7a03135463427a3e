"""Latency as a person waits for it: purchases sent at evenly spaced times (open loop).

A closed-loop client (the store day) waits for each answer before its next request, so its
latency is just open stores / throughput. Here arrivals do not wait: the i-th purchase is due
at start + i / rate, whatever the answers' pace, and its latency counts from when it was due,
so time spent queued behind a slow answer is counted too (no coordinated omission).

    python -m loadtest.fixed_rate --host URL --rate N --seconds S [--connections C] [--report PATH]
"""
from __future__ import annotations

import argparse
import http.client
import json
import queue
import random
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from loadtest.report import Record, report_build
from loadtest.stores import DayParams, purchase_draw

STORES = 256
PARAMS = DayParams(max_stores=STORES)


def _purchase(rng: random.Random) -> tuple[int, str, bytes]:
    store = rng.randrange(1, STORES + 1)
    customer, items = purchase_draw(store, PARAMS, rng)
    body = json.dumps({"items": [{"ItemID": str(i), "numberOfItems": 1} for i in items]})
    return store, f"/purchase/{store}/customer/{customer}/date/{PARAMS.date}", body.encode()


def _sender(host: str, port: int, due: queue.Queue, records: list[Record], seed: int) -> None:
    """One kept-alive connection: sends each due purchase as soon as it is free."""
    rng = random.Random(seed)
    connection = http.client.HTTPConnection(host, port, timeout=30)
    while (due_at := due.get()) is not None:
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
        records.append(Record(time.time() - latency_ms / 1000, "POST", latency_ms, status,
                              store, 0))
    connection.close()


def fixed_rate_run(base: str, *, rate: float, seconds: float, connections: int = 10) -> dict:
    """The report (report.py's keys, plus rate and connections) of one open-loop run."""
    parts = urlsplit(base)
    due: queue.Queue = queue.Queue()
    records: list[Record] = []
    senders = [threading.Thread(target=_sender, args=(parts.hostname, parts.port or 80, due,
                                                      records, n), daemon=True)
               for n in range(connections)]
    for sender in senders:
        sender.start()
    start = time.monotonic() + 0.2
    for i in range(int(rate * seconds)):
        due_at = start + i / rate
        pause = due_at - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        due.put(due_at)
    for _ in senders:
        due.put(None)
    for sender in senders:
        sender.join()
    return {**report_build(records), "rate": rate, "connections": connections}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.fixed_rate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", required=True, help="base URL, e.g. http://127.0.0.1:8000")
    parser.add_argument("--rate", type=float, required=True, help="purchases per second")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--report", type=Path, help="also write the report here (JSON)")
    args = parser.parse_args(argv)
    report = fixed_rate_run(args.host, rate=args.rate, seconds=args.seconds,
                            connections=args.connections)
    text = json.dumps(report, indent=2)
    if args.report:
        args.report.write_text(text + "\n")
    print(text)
    return 0 if report["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
