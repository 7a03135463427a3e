"""Purchases accepted by this host's web processes, as their Prometheus counters say.

Read from prometheus_client's multiprocess files, the way its documentation shows for a
gunicorn exporter, so every process's count is in the total, not just this one's.
"""
from __future__ import annotations

import os

from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

ACCEPTED_SAMPLE = "tigle_purchases_accepted_total"


def accepted_total() -> int | None:
    """Every mode's accepted purchases summed; None when the web runs without metrics."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        return None
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=path)
    return int(sum(sample.value for metric in registry.collect() for sample in metric.samples
                   if sample.name == ACCEPTED_SAMPLE))
