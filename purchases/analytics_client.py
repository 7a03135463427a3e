"""The web tier's way to analytics: one gRPC channel per process, round robin over replicas.

The channel is made on first use, so never before gunicorn forks, and again in a process
whose pid differs from the one that made it. Every call has a deadline.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time

import grpc
from django.conf import settings

from analytics.protos import analytics_pb2, analytics_pb2_grpc

log = logging.getLogger(__name__)
SERVICE = "tigle.analytics.v1.Analytics"
# A call that fails because its replica went away, or is full, is tried on another one;
# throttled, so that an outage does not triple the calls.
SERVICE_CONFIG = json.dumps({
    "loadBalancingConfig": [{"round_robin": {}}],
    "methodConfig": [{
        "name": [{"service": SERVICE}],
        "retryPolicy": {
            "maxAttempts": 3,
            "initialBackoff": "0.01s",
            "maxBackoff": "0.1s",
            "backoffMultiplier": 2,
            "retryableStatusCodes": ["UNAVAILABLE", "RESOURCE_EXHAUSTED"],
        },
    }],
    "retryThrottling": {"maxTokens": 10, "tokenRatio": 0.1},
})
# gRPC waits longer after each failed connect to a replica, up to 120 s by default: once
# analytics was away a minute or two, reads went on failing that long after it was back.
# One connect a second per web process is nothing to a replica.
RECONNECT_OPTIONS = [("grpc.initial_reconnect_backoff_ms", 200),
                     ("grpc.max_reconnect_backoff_ms", 1000)]
# A replica name that did not resolve is looked up again after this long.
RESOLVE_AGAIN_SECONDS = 30
_lock = threading.Lock()
# (pid, addresses) -> (stub, monotonic time after which to resolve again, or None)
_stubs: dict[tuple[int, tuple[str, ...]], tuple[analytics_pb2_grpc.AnalyticsStub, float | None]] = {}


class AnalyticsUnavailable(Exception):
    """No analytics replica answered within the deadline."""


def channel_target(addresses: list[str]) -> tuple[str, bool]:
    """A gRPC target naming every replica that resolves, and whether all of them did.

    One address is handed to gRPC's own DNS resolver. Several are resolved here, because a
    gRPC target lists addresses of one family only: IPv4 if any replica has one, else IPv6.
    """
    if len(addresses) == 1:
        return addresses[0], True
    found: dict[int, list[str]] = {socket.AF_INET: [], socket.AF_INET6: []}
    complete = True
    for address in addresses:
        host, _, port = address.rpartition(":")
        try:
            infos = socket.getaddrinfo(host.strip("[]"), int(port), type=socket.SOCK_STREAM)
        except OSError as exc:
            log.warning("analytics replica %s does not resolve: %r", address, exc)
            complete = False
            continue
        for family, _, _, _, sockaddr in infos:
            if family == socket.AF_INET:
                found[family].append(f"{sockaddr[0]}:{sockaddr[1]}")
            elif family == socket.AF_INET6:
                found[family].append(f"[{sockaddr[0]}]:{sockaddr[1]}")
    scheme, resolved = ("ipv4", found[socket.AF_INET]) if found[socket.AF_INET] else (
        "ipv6", found[socket.AF_INET6])
    if not resolved:
        raise AnalyticsUnavailable(f"no analytics replica resolves: {', '.join(addresses)}")
    return f"{scheme}:" + ",".join(dict.fromkeys(resolved)), complete


def _stub() -> analytics_pb2_grpc.AnalyticsStub:
    key = (os.getpid(), tuple(settings.ANALYTICS_ADDRESS))
    entry = _stubs.get(key)
    if entry is None or (entry[1] is not None and time.monotonic() > entry[1]):
        with _lock:
            entry = _stubs.get(key)
            if entry is None or (entry[1] is not None and time.monotonic() > entry[1]):
                target, complete = channel_target(settings.ANALYTICS_ADDRESS)
                channel = grpc.insecure_channel(
                    target, options=[("grpc.service_config", SERVICE_CONFIG),
                                     ("grpc.enable_retries", 1), *RECONNECT_OPTIONS])
                again = None if complete else time.monotonic() + RESOLVE_AGAIN_SECONDS
                entry = _stubs[key] = (analytics_pb2_grpc.AnalyticsStub(channel), again)
    return entry[0]


def _call(method: str, request):
    try:
        return getattr(_stub(), method)(request, timeout=settings.TIGLE_ANALYTICS_TIMEOUT)
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
            raise ValueError(exc.details()) from None
        raise AnalyticsUnavailable(f"{exc.code().name}: {exc.details()}") from None


def top_items(*, store_id: int, n: int) -> list[tuple[int, int]]:
    reply = _call("TopItems", analytics_pb2.TopItemsRequest(store_id=store_id, n=n))
    return [(one.item_id, one.quantity) for one in reply.items]


def top_stores(*, item_id: int, n: int) -> list[tuple[int, int]]:
    reply = _call("TopStores", analytics_pb2.TopStoresRequest(item_id=item_id, n=n))
    return [(one.store_id, one.quantity) for one in reply.stores]


def stats() -> analytics_pb2.StatsReply:
    """One replica's totals and the last stream offset it applied (the dashboard's)."""
    return _call("Stats", analytics_pb2.StatsRequest())
