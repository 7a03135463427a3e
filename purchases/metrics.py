"""Prometheus metrics of the web tier (`/metrics`) and of the Celery worker (its own port).

The web runs several gunicorn processes. Each one writes its samples to prometheus_client's
multiprocess files in PROMETHEUS_MULTIPROC_DIR (tigle_project/gunicorn_conf.py makes the
folder before the processes fork), and `/metrics` sums every process's, as the library's
documentation shows. The worker writes its batches in its main process
(purchases/broker/batching.py), which serves WORKER_METRICS_LISTEN itself.

Who may read them: METRICS_ALLOWED_CIDRS, checked against REMOTE_ADDR (not X-Forwarded-For,
which any client can write), and every X-Forwarded-For hop must be allowed as well, so that
a request through the internet-facing load balancer (whose own address is private) is refused.
"""
from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from analytics.metrics_access import address_allowed, forwarded_allowed
from analytics.metrics_server import metrics_serve
from purchases.events import DB_QUEUE, PARKED_QUEUE
from tigle_project.celery_app import app

log = logging.getLogger(__name__)

# The web tier's. Children of labelled metrics are taken once here: the purchase path then
# pays for one increment, not for a label lookup.
ACCEPTED = Counter("tigle_purchases_accepted_total",
                   "Purchases handed over: confirmed by the broker (queue) or committed (sync)",
                   ["mode"])
ACCEPTED_BY_MODE = {mode: ACCEPTED.labels(mode=mode) for mode in ("queue", "sync")}
REJECTED = Counter("tigle_purchases_rejected_total",
                   "Purchase requests answered with an error, by HTTP status", ["status"])
# What a purchase's Idempotency-Key held: retries show as pending and done.
KEYED = Counter("tigle_idempotency_keys_total",
                "Purchases sent with an Idempotency-Key, by what the key held: new, pending (a "
                "retry, published again under its first ID) or done (a retry, answered with its "
                "first ID, nothing published)", ["found"])
KEYED_BY_FOUND = {found: KEYED.labels(found=found) for found in ("new", "pending", "done")}
PUBLISH_SECONDS = Histogram(
    "tigle_publish_seconds", "From handing a purchase to the publisher to the broker's confirm "
    "(or the failure that answered 503)",
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0))


RANKINGS = Counter("tigle_rankings_total",
                   "Ranking requests (GET /items/...) answered by this web, by ranking "
                   "(top_items, top_stores) and HTTP status: 503s are analytics out of reach",
                   ["ranking", "status"])


def ranking_counted(ranking: str, response: HttpResponse) -> HttpResponse:
    RANKINGS.labels(ranking=ranking, status=str(response.status_code)).inc()
    return response


def purchase_rejects_counted(post: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Wraps the purchase view: every answer of 400 and above counts, by status."""
    @functools.wraps(post)
    def counted(view: object, request: HttpRequest, *args: object, **kwargs: object):
        try:
            response = post(view, request, *args, **kwargs)
        except Exception:
            REJECTED.labels(status="500").inc()
            raise
        if response.status_code >= 400:
            REJECTED.labels(status=str(response.status_code)).inc()
        return response

    return counted


def _registry() -> CollectorRegistry:
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:  # one process (tests, manage.py runserver): its own samples
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=path)
    return registry


@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    """GET /metrics: every web process of this host, in Prometheus' text format."""
    networks = settings.METRICS_ALLOWED_CIDRS
    if not (address_allowed(request.META.get("REMOTE_ADDR", ""), networks)
            and forwarded_allowed(request.META.get("HTTP_X_FORWARDED_FOR"), networks)):
        return HttpResponse("metrics are not served to this address\n", status=403,
                            content_type="text/plain")
    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)


class WorkerMetrics:
    """The worker's metrics, made in the worker only (worker_metrics()): the web's /metrics
    shows every metric its processes made, and these would read 0 there."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.written = Counter(
            "tigle_worker_purchases_written_total",
            "Purchases the worker wrote to the database (a redelivered one is not written again)",
            registry=registry)
        self.batch_size = Histogram(
            "tigle_worker_batch_size", "Purchases per batch the worker wrote (or tried to)",
            buckets=(1, 2, 5, 10, 25, 50, 100, 200, 300, 400, 500, 1000, 2000), registry=registry)
        self.db_errors = Counter(
            "tigle_worker_db_errors_total",
            "Writes the database refused: the batch was requeued, or written one by one",
            registry=registry)
        self.parked = Counter(
            "tigle_worker_messages_parked_total",
            f"Messages moved to {PARKED_QUEUE} for a person to look at", registry=registry)
        ProcessCollector(registry=registry)
        registry.register(QueueDepth())


WORKER_REGISTRY = CollectorRegistry()
_worker: WorkerMetrics | None = None
_worker_lock = threading.Lock()


def worker_metrics() -> WorkerMetrics:
    global _worker
    if _worker is None:
        with _worker_lock:
            if _worker is None:
                _worker = WorkerMetrics(WORKER_REGISTRY)
    return _worker


# Several scrapers (two Prometheus replicas) share one broker round trip.
QUEUE_CACHE_SECONDS = 1.0


class QueueDepth(Collector):
    """Messages ready in purchases.db and in the parked queue, asked of the broker at scrape
    time on a connection of its own (never the worker's consuming one)."""

    NAME = "tigle_worker_queue_messages"
    HELP = "Messages ready in a queue, not yet delivered to a worker (the backlog)"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cached: tuple[float, dict[str, int]] = (0.0, {})

    def describe(self) -> list[GaugeMetricFamily]:
        # Without it, registering would call collect(), and with it the broker.
        return [GaugeMetricFamily(self.NAME, self.HELP, labels=["queue"])]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            at, depths = self._cached
            if time.monotonic() - at >= QUEUE_CACHE_SECONDS:
                depths = self._ask()
                self._cached = (time.monotonic(), depths)
        if depths:
            family = GaugeMetricFamily(self.NAME, self.HELP, labels=["queue"])
            for queue, depth in depths.items():
                family.add_metric([queue], depth)
            yield family

    @staticmethod
    def _ask() -> dict[str, int]:
        try:
            # Bounded: a broker away must not hold the scrape past Prometheus' timeout.
            with app.connection_for_read(connect_timeout=2) as connection:
                connection.ensure_connection(max_retries=1, interval_start=0)
                channel = connection.default_channel
                return {queue: channel.queue_declare(queue, passive=True).message_count
                        for queue in (DB_QUEUE, PARKED_QUEUE)}
        except Exception as exc:  # a scrape must answer, with or without the broker
            log.warning("queue depth: broker not asked: %r", exc)
            return {}


def worker_metrics_serve() -> object | None:
    """Serve the worker's metrics on WORKER_METRICS_LISTEN; a port that cannot be had is
    logged and never stops the writing."""
    worker_metrics()
    try:
        return metrics_serve(settings.WORKER_METRICS_LISTEN, settings.METRICS_ALLOWED_CIDRS,
                             WORKER_REGISTRY)
    except OSError as exc:
        log.error("WORKER_METRICS_LISTEN=%s: metrics not served: %s",
                  settings.WORKER_METRICS_LISTEN, exc)
        return None
