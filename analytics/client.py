"""A small client for the CLI: one call to one replica, with a deadline."""
from __future__ import annotations

import grpc

from analytics.protos import analytics_pb2, analytics_pb2_grpc

DEADLINE_SECONDS = 5


def _stub(address: str) -> tuple[grpc.Channel, analytics_pb2_grpc.AnalyticsStub]:
    channel = grpc.insecure_channel(address)
    return channel, analytics_pb2_grpc.AnalyticsStub(channel)


def top_items(address: str, store_id: int, n: int = 0) -> list[tuple[int, int]]:
    channel, stub = _stub(address)
    with channel:
        reply = stub.TopItems(analytics_pb2.TopItemsRequest(store_id=store_id, n=n),
                              timeout=DEADLINE_SECONDS)
    return [(one.item_id, one.quantity) for one in reply.items]


def top_stores(address: str, item_id: int, n: int = 0) -> list[tuple[int, int]]:
    channel, stub = _stub(address)
    with channel:
        reply = stub.TopStores(analytics_pb2.TopStoresRequest(item_id=item_id, n=n),
                               timeout=DEADLINE_SECONDS)
    return [(one.store_id, one.quantity) for one in reply.stores]


def stats(address: str) -> dict[str, int]:
    channel, stub = _stub(address)
    with channel:
        reply = stub.Stats(analytics_pb2.StatsRequest(), timeout=DEADLINE_SECONDS)
    return {name: getattr(reply, name) for name in reply.DESCRIPTOR.fields_by_name}
