"""The web tier's way to analytics: one gRPC channel per process, round robin over replicas.

The channel is made on first use, so never before gunicorn forks, and again in a process
whose pid differs from the one that made it. Every call has a deadline.
"""
from __future__ import annotations

import json
import os
import socket
import threading

import grpc
from django.conf import settings

from analytics.protos import analytics_pb2, analytics_pb2_grpc

SERVICE = "tigle.analytics.v1.Analytics"
# A call that fails because its replica went away is tried again on another one.
SERVICE_CONFIG = json.dumps({
    "loadBalancingConfig": [{"round_robin": {}}],
    "methodConfig": [{
        "name": [{"service": SERVICE}],
        "retryPolicy": {
            "maxAttempts": 3,
            "initialBackoff": "0.01s",
            "maxBackoff": "0.1s",
            "backoffMultiplier": 2,
            "retryableStatusCodes": ["UNAVAILABLE"],
        },
    }],
})
_lock = threading.Lock()
_stubs: dict[tuple[int, tuple[str, ...]], analytics_pb2_grpc.AnalyticsStub] = {}


class AnalyticsUnavailable(Exception):
    """No analytics replica answered within the deadline."""


def channel_target(addresses: list[str]) -> str:
    """A gRPC target that names every replica; hosts are resolved now, once per process."""
    if len(addresses) == 1:
        return addresses[0]
    resolved = []
    for address in addresses:
        host, _, port = address.rpartition(":")
        for _, _, _, _, sockaddr in socket.getaddrinfo(
                host.strip("[]"), int(port), socket.AF_INET, socket.SOCK_STREAM):
            resolved.append(f"{sockaddr[0]}:{sockaddr[1]}")
    return "ipv4:" + ",".join(dict.fromkeys(resolved))


def _stub() -> analytics_pb2_grpc.AnalyticsStub:
    key = (os.getpid(), tuple(settings.ANALYTICS_ADDRESS))
    stub = _stubs.get(key)
    if stub is None:
        with _lock:
            stub = _stubs.get(key)
            if stub is None:
                channel = grpc.insecure_channel(
                    channel_target(settings.ANALYTICS_ADDRESS),
                    options=[("grpc.service_config", SERVICE_CONFIG),
                             ("grpc.enable_retries", 1)],
                )
                stub = _stubs[key] = analytics_pb2_grpc.AnalyticsStub(channel)
    return stub


def _call(method: str, request):
    try:
        return getattr(_stub(), method)(request, timeout=settings.TIGLE_ANALYTICS_TIMEOUT)
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
            raise ValueError(exc.details()) from None
        raise AnalyticsUnavailable(f"{exc.code().name}: {exc.details()}") from None
    except OSError as exc:  # a replica's host name that does not resolve
        raise AnalyticsUnavailable(repr(exc)) from None


def top_items(*, store_id: int, n: int) -> list[tuple[int, int]]:
    reply = _call("TopItems", analytics_pb2.TopItemsRequest(store_id=store_id, n=n))
    return [(one.item_id, one.quantity) for one in reply.items]


def top_stores(*, item_id: int, n: int) -> list[tuple[int, int]]:
    reply = _call("TopStores", analytics_pb2.TopStoresRequest(item_id=item_id, n=n))
    return [(one.store_id, one.quantity) for one in reply.stores]
