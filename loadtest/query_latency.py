"""Top-N query latency while ingest runs: gRPC straight to analytics and REST through the web.

    python -m loadtest.query_latency --grpc HOST:PORT --rest http://HOST:PORT \
        [--read-web http://HOST:PORT] --stores 1024 --items 100000 [--rate 50]

Asks, in turn, top-10 items of a random store and top-5 stores of a random item, over gRPC
and over REST (and, with --read-web, over REST from a web process that takes no purchases),
each kind --rate times a second (paced, one at a time: this measures latency, not how many
queries fit). Runs until its standard input closes, then prints one JSON object:
{"grpc_top_items": {"count", "p50_ms", "p99_ms", "max_ms", "errors"}, ...}.
"""
from __future__ import annotations

import argparse
import http.client
import json
import random
import sys
import threading
import time
import urllib.parse

import grpc

from analytics.protos import analytics_pb2, analytics_pb2_grpc
from loadtest.report import percentile


def summary(latencies_ms: list[float], errors: int) -> dict:
    ordered = sorted(latencies_ms)
    if not ordered:
        return {"count": 0, "p50_ms": None, "p99_ms": None, "max_ms": None, "errors": errors}
    return {"count": len(ordered), "p50_ms": round(percentile(ordered, 50), 3),
            "p99_ms": round(percentile(ordered, 99), 3), "max_ms": round(ordered[-1], 3),
            "errors": errors}


class Queries:
    """The four kinds of query, each timed from the call until the whole answer is read."""

    def __init__(self, grpc_address: str, rest_base: str, stores: int, items: int,
                 read_web: str | None = None) -> None:
        self.stub = analytics_pb2_grpc.AnalyticsStub(grpc.insecure_channel(grpc_address))
        self.http = connection(rest_base)
        self.read_http = connection(read_web) if read_web else None
        self.stores, self.items = stores, items

    @property
    def kinds(self) -> list[str]:
        kinds = ["grpc_top_items", "grpc_top_stores", "rest_top_items", "rest_top_stores"]
        return kinds + (["read_web_top_items", "read_web_top_stores"] if self.read_http else [])

    def grpc_top_items(self) -> None:
        self.stub.TopItems(analytics_pb2.TopItemsRequest(
            store_id=random.randint(1, self.stores), n=10), timeout=5)

    def grpc_top_stores(self) -> None:
        self.stub.TopStores(analytics_pb2.TopStoresRequest(
            item_id=random.randint(1, self.items - 1), n=5), timeout=5)

    @staticmethod
    def _get(conn: http.client.HTTPConnection, path: str) -> None:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        if response.status not in (200, 404):  # 404: an item no store sold yet
            raise RuntimeError(f"GET {path}: {response.status}")

    def rest_top_items(self, conn: http.client.HTTPConnection | None = None) -> None:
        self._get(conn or self.http, f"/items/store/{random.randint(1, self.stores)}")

    def rest_top_stores(self, conn: http.client.HTTPConnection | None = None) -> None:
        self._get(conn or self.http, f"/items/top5/{random.randint(1, self.items - 1)}")

    def read_web_top_items(self) -> None:
        self.rest_top_items(self.read_http)

    def read_web_top_stores(self) -> None:
        self.rest_top_stores(self.read_http)


def connection(base: str) -> http.client.HTTPConnection:
    parts = urllib.parse.urlsplit(base)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)


def measure(queries: Queries, rate: float, stop: threading.Event) -> dict:
    kinds = queries.kinds
    latencies: dict[str, list[float]] = {kind: [] for kind in kinds}
    errors = dict.fromkeys(kinds, 0)
    interval = 1.0 / (rate * len(kinds))
    next_at = time.perf_counter()
    while not stop.is_set():
        for kind in kinds:
            started = time.perf_counter()
            try:
                getattr(queries, kind)()
            except Exception:  # noqa: BLE001 - counted; a query must not stop the run
                errors[kind] += 1
                if kind.startswith("rest"):
                    queries.http.close()  # reconnects on the next request
                elif kind.startswith("read_web"):
                    queries.read_http.close()
            else:
                latencies[kind].append((time.perf_counter() - started) * 1000)
            next_at += interval
            stop.wait(max(0.0, next_at - time.perf_counter()))
    return {kind: summary(latencies[kind], errors[kind]) for kind in kinds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.query_latency", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grpc", required=True)
    parser.add_argument("--rest", required=True)
    parser.add_argument("--read-web", help="a web process that takes no purchases")
    parser.add_argument("--stores", type=int, default=1024)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=50.0, help="queries per second per kind")
    args = parser.parse_args(argv)
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    queries = Queries(args.grpc, args.rest, args.stores, args.items, args.read_web)
    result = measure(queries, args.rate, stop)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
