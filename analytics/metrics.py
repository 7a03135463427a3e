"""analytics' Prometheus metrics: purchases counted, how far behind the stream, query latency.

Served on ANALYTICS_METRICS_LISTEN to the clients METRICS_ALLOWED_CIDRS allows
(analytics/metrics_server.py). The lag is asked of the broker at scrape time, so reading the
stream costs nothing extra.
"""
from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from analytics.broker import BROKER_ERRORS
from analytics.config import Config
from analytics.metrics_server import metrics_serve

log = logging.getLogger(__name__)

COUNTED = Counter("tigle_analytics_purchases_counted_total",
                  "Purchases read from the stream and added to the matrix (each once)")
QUERY_SECONDS = Histogram(
    "tigle_analytics_query_seconds", "Time to answer one gRPC query, by method", ["method"],
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0))
LAG_NAME = "tigle_analytics_stream_lag_messages"
LAG_HELP = "Messages in the analytics stream after the last one counted"
# Several scrapers (two Prometheus replicas) share one broker probe.
LAG_CACHE_SECONDS = 1.0


class StreamLag(Collector):
    """The stream's last offset (from the broker) minus the last offset counted; nothing
    while no source is set (the embedded broker has no offsets) or the broker is away."""

    def __init__(self) -> None:
        self.source: tuple[Callable[[], int | None], Callable[[], int | None]] | None = None
        self._lock = threading.Lock()
        self._cached: tuple[float, float | None] = (0.0, None)

    def describe(self) -> list[GaugeMetricFamily]:
        # Without it, registering would call collect(), and with it the broker.
        return [GaugeMetricFamily(LAG_NAME, LAG_HELP)]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        lag = self.lag()
        if lag is not None:
            yield GaugeMetricFamily(LAG_NAME, LAG_HELP, value=lag)

    def lag(self) -> float | None:
        if self.source is None:
            return None
        with self._lock:
            at, lag = self._cached
            if time.monotonic() - at >= LAG_CACHE_SECONDS:
                lag = self._measure()
                self._cached = (time.monotonic(), lag)
            return lag

    def _measure(self) -> float | None:
        stream_tail, counted_offset = self.source
        try:
            tail = stream_tail()
        except BROKER_ERRORS as exc:
            log.warning("stream lag: broker not asked: %r", exc)
            return None
        counted = counted_offset()
        if counted is None:  # the checkpoint is still loading
            return None
        return float(max(0, (tail if tail is not None else -1) - counted))


STREAM_LAG = StreamLag()
REGISTRY.register(STREAM_LAG)


def query_timed(method: str) -> Callable:
    """Times a servicer method into tigle_analytics_query_seconds{method=...}."""
    child = QUERY_SECONDS.labels(method=method)

    def decorate(function: Callable) -> Callable:
        @functools.wraps(function)
        def timed(self, request, context):
            started = time.perf_counter()
            try:
                return function(self, request, context)
            finally:
                child.observe(time.perf_counter() - started)

        return timed

    return decorate


def metrics_start(config: Config, *, stream_tail: Callable[[], int | None],
                  counted_offset: Callable[[], int | None]) -> object | None:
    """Serve the metrics; a port that cannot be had is logged, never stops the counting."""
    if not config.embedded_broker:
        STREAM_LAG.source = (stream_tail, counted_offset)
    try:
        return metrics_serve(config.metrics_listen, config.metrics_allowed)
    except OSError as exc:
        log.error("ANALYTICS_METRICS_LISTEN=%s: metrics not served: %s", config.metrics_listen, exc)
        return None
