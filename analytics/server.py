"""The gRPC side: the Analytics servicer, health, reflection, and a bounded server."""
from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from analytics.metrics import query_timed
from analytics.protos import analytics_pb2, analytics_pb2_grpc
from analytics.state import State
from purchases.events import MAX_ITEM_ID, MAX_STORE_ID

SERVICE_NAME = analytics_pb2.DESCRIPTOR.services_by_name["Analytics"].full_name
DEFAULT_TOP_ITEMS = 10
DEFAULT_TOP_STORES = 5
MAX_TOP = 1000
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class AnalyticsServicer(analytics_pb2_grpc.AnalyticsServicer):
    """Answers from whatever state current() returns; None while it is being loaded."""

    def __init__(self, current: Callable[[], State | None]) -> None:
        self._current = current
        self._answered = 0
        self._lock = threading.Lock()

    def _state(self, context: grpc.ServicerContext) -> State:
        state = self._current()
        if state is None:
            context.abort(grpc.StatusCode.UNAVAILABLE, "analytics is loading its checkpoint")
        return state

    def _counted(self) -> None:
        with self._lock:
            self._answered += 1

    @staticmethod
    def _checked(context: grpc.ServicerContext, name: str, value: int, high: int) -> int:
        if not 1 <= value <= high:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"{name} must be in 1..{high}")
        return value

    def _n(self, context: grpc.ServicerContext, n: int, default: int) -> int:
        return default if n == 0 else self._checked(context, "n", n, MAX_TOP)

    @query_timed("TopItems")
    def TopItems(self, request, context):
        store_id = self._checked(context, "store_id", request.store_id, MAX_STORE_ID)
        n = self._n(context, request.n, DEFAULT_TOP_ITEMS)
        top = self._state(context).matrix.top_items(store_id, n)
        self._counted()
        return analytics_pb2.TopItemsReply(
            items=[analytics_pb2.ItemCount(item_id=i, quantity=q) for i, q in top])

    @query_timed("TopStores")
    def TopStores(self, request, context):
        item_id = self._checked(context, "item_id", request.item_id, MAX_ITEM_ID)
        n = self._n(context, request.n, DEFAULT_TOP_STORES)
        top = self._state(context).matrix.top_stores(item_id, n)
        self._counted()
        return analytics_pb2.TopStoresReply(
            stores=[analytics_pb2.StoreCount(store_id=s, quantity=q) for s, q in top])

    @query_timed("Stats")
    def Stats(self, request, context):
        state = self._state(context)
        totals = state.matrix.totals()
        return analytics_pb2.StatsReply(
            purchases=totals.purchases, units=totals.units, stores=totals.stores,
            items=totals.items, last_offset=state.last_offset, queries=self._answered)


def create_server(address: str, current: Callable[[], State | None], *, threads: int = 8,
                  max_rpcs: int = 256) -> tuple[grpc.Server, int, health.HealthServicer]:
    """A server on address (port 0 picks one), health NOT_SERVING until health_serving()."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="grpc"),
        # Past this many calls in flight, new ones fail fast with RESOURCE_EXHAUSTED
        # instead of queueing without bound behind the thread pool.
        maximum_concurrent_rpcs=max_rpcs,
    )
    analytics_pb2_grpc.add_AnalyticsServicer_to_server(AnalyticsServicer(current), server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for service in ("", SERVICE_NAME):
        health_servicer.set(service, NOT_SERVING)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot listen on {address}")
    return server, port, health_servicer


def health_serving(health_servicer: health.HealthServicer, serving: bool) -> None:
    for service in ("", SERVICE_NAME):
        health_servicer.set(service, SERVING if serving else NOT_SERVING)
