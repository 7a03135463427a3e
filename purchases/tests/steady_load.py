"""A steady stream of purchases that records when each answer came, and what the database and
analytics held meanwhile: how long a fault kept purchases from being accepted, written and
counted.
"""
from __future__ import annotations

import random
from collections import Counter
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field

import MySQLdb
import requests

from analytics import client
from purchases.tests.helpers import Sent, purchase_post, purchase_random

RETRY_PAUSE_SECONDS = 0.2
SAMPLE_SECONDS = 0.25


@dataclass
class Attempt:
    at: float  # time.monotonic() when the answer came
    status: int


@dataclass
class SteadyLoad:
    """Clients that POST one purchase after another, each retried with its Idempotency-Key
    until a 201, as DESIGN.md allows after a 503 (the outcome is unknown, a retry is safe)."""

    base: str
    clients: int = 3
    pause: float = 0.01
    attempts: list[Attempt] = field(default_factory=list)
    purchases: list[Sent] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _give_up: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> SteadyLoad:
        for index in range(self.clients):
            thread = threading.Thread(target=self._run, args=(random.Random(index),), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _run(self, rng: random.Random) -> None:
        session = requests.Session()
        while not self._stop.is_set():
            sent, key = purchase_random(rng), str(uuid.uuid4())
            self.purchases.append(sent)  # list.append is atomic across threads
            while True:
                purchase_post(session, self.base, sent, **{"Idempotency-Key": key})
                self.attempts.append(Attempt(time.monotonic(), sent.status))
                if sent.status == 201 or self._give_up.is_set():
                    break
                time.sleep(RETRY_PAUSE_SECONDS)
            time.sleep(self.pause)

    def stop(self, retry_seconds: float) -> None:
        """No new purchases; those under way are retried for at most retry_seconds more."""
        self._stop.set()
        deadline = time.monotonic() + retry_seconds
        for thread in self._threads:
            thread.join(max(deadline - time.monotonic(), 0))
        self._give_up.set()
        for thread in self._threads:
            thread.join()

    def accepted(self) -> list[Sent]:
        return [sent for sent in self.purchases if sent.status == 201]


def purchase_count(database_url: str) -> int:
    parts = urllib.parse.urlsplit(database_url)
    connection = MySQLdb.connect(host=parts.hostname, port=parts.port or 3306,
                                 user=parts.username or "root", passwd=parts.password or "",
                                 db=parts.path.lstrip("/"), connect_timeout=5)
    try:
        cursor = connection.cursor()
        cursor.execute("SELECT COUNT(*) FROM purchases_purchase")
        return int(cursor.fetchone()[0])
    finally:
        connection.close()


@dataclass
class Progress:
    """Samples of (time, rows written, purchases counted by analytics) a few times a second."""

    database_url: str
    analytics: str
    samples: list[tuple[float, int, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Progress:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            try:
                counted = client.stats(self.analytics)["purchases"]
            except Exception:  # a slow answer counts as no progress
                counted = self.samples[-1][2] if self.samples else 0
            self.samples.append((time.monotonic(), purchase_count(self.database_url), counted))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def gaps(times: list[float]) -> list[tuple[float, float]]:
    """(start, end) of each wait between consecutive times (sorted)."""
    return list(zip(times, times[1:]))


def stalls(samples: list[tuple[float, int]], end: float) -> list[tuple[float, float]]:
    """(start, end) of each time a sampled count stood still, clipped to end: after the
    load stops nothing new comes."""
    runs, since = [], samples[0][0] if samples else 0.0
    for (_, previous), (at, value) in zip(samples, samples[1:]):
        if value != previous:
            runs.append((since, min(at, end)))
            since = at
    if samples and since < end:
        runs.append((since, min(samples[-1][0], end)))
    return runs


def longest_ending_in(spans: list[tuple[float, float]], start: float, end: float) -> float:
    """The longest span that ends in [start, end): a fault's cost shows when it ends."""
    return round(max((b - a for a, b in spans if start <= b < end), default=0.0), 2)


def failover_costs(load: SteadyLoad, progress: Progress,
                   events: list[tuple[str, float]], end: float) -> list[dict]:
    """For each event, up to the next one: the longest wait between 201s, the answers other
    than 201 by status, and the longest time rows written and analytics' count stood still."""
    accepted = gaps(sorted(a.at for a in load.attempts if a.status == 201))
    rows = stalls([(t, r) for t, r, _ in progress.samples], end)
    counted = stalls([(t, c) for t, _, c in progress.samples], end)
    report = []
    for (what, at), (_, until) in zip(events, [*events[1:], ("end", float("inf"))]):
        refused = Counter(str(a.status) for a in load.attempts
                          if at <= a.at < until and a.status != 201)
        report.append({
            "event": what,
            "longest_201_gap_s": longest_ending_in(accepted, at, until),
            "not_201": dict(refused),
            "rows_stalled_s": longest_ending_in(rows, at, until),
            "counted_stalled_s": longest_ending_in(counted, at, until),
        })
    return report
