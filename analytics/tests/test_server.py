"""A real gRPC server on port 0, over a real channel: queries, stats, health, reflection."""
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from analytics.protos import analytics_pb2 as pb, analytics_pb2_grpc
from analytics.server import SERVICE_NAME, create_server, health_serving
from analytics.state import State


@pytest.fixture
def served():
    holder = {"state": None}
    server, port, health = create_server("127.0.0.1:0", lambda: holder["state"])
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield holder, health, channel
    channel.close()
    server.stop(None)


def test_it_is_not_serving_until_its_state_is_loaded(served):
    holder, health, channel = served
    check = health_pb2_grpc.HealthStub(channel).Check
    stub = analytics_pb2_grpc.AnalyticsStub(channel)
    assert check(health_pb2.HealthCheckRequest(service=SERVICE_NAME)).status == \
        health_pb2.HealthCheckResponse.NOT_SERVING
    with pytest.raises(grpc.RpcError) as error:
        stub.Stats(pb.StatsRequest(), timeout=5)
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE
    holder["state"] = State()
    health_serving(health, True)
    assert check(health_pb2.HealthCheckRequest()).status == health_pb2.HealthCheckResponse.SERVING
    assert stub.Stats(pb.StatsRequest(), timeout=5).last_offset == -1


def test_it_answers_top_n_and_stats(served):
    holder, health, channel = served
    state = State(last_offset=4)
    state.matrix.apply([(1, [(7, 5), (8, 5), (9, 1)]), (2, [(7, 9)]), (3, [(7, 5)])])
    holder["state"] = state
    stub = analytics_pb2_grpc.AnalyticsStub(channel)
    items = stub.TopItems(pb.TopItemsRequest(store_id=1, n=2), timeout=5).items
    assert [(i.item_id, i.quantity) for i in items] == [(7, 5), (8, 5)]
    default = stub.TopItems(pb.TopItemsRequest(store_id=1), timeout=5).items
    assert len(default) == 3
    stores = stub.TopStores(pb.TopStoresRequest(item_id=7), timeout=5).stores
    assert [(s.store_id, s.quantity) for s in stores] == [(2, 9), (1, 5), (3, 5)]
    assert stub.TopStores(pb.TopStoresRequest(item_id=12345), timeout=5).stores == []
    stats = stub.Stats(pb.StatsRequest(), timeout=5)
    assert (stats.purchases, stats.units, stats.stores, stats.items, stats.last_offset,
            stats.queries) == (3, 25, 3, 3, 4, 4)


@pytest.mark.parametrize("request_", [pb.TopItemsRequest(store_id=0), pb.TopItemsRequest(store_id=1, n=-1),
                                      pb.TopItemsRequest(store_id=1, n=1001)])
def test_it_refuses_bad_arguments(served, request_):
    holder, _, channel = served
    holder["state"] = State()
    with pytest.raises(grpc.RpcError) as error:
        analytics_pb2_grpc.AnalyticsStub(channel).TopItems(request_, timeout=5)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_it_lists_its_services_by_reflection(served):
    _, _, channel = served
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    replies = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    names = {s.name for s in next(replies).list_services_response.service}
    assert {SERVICE_NAME, "grpc.health.v1.Health"} <= names


def test_the_generated_code_matches_the_proto(tmp_path):
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    protos = Path(__file__).resolve().parent.parent / "protos"
    (tmp_path / "analytics" / "protos").mkdir(parents=True)
    shutil.copy(protos / "analytics.proto", tmp_path / "analytics" / "protos")
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", ".", "--python_out=.",
                    "--pyi_out=.", "--grpc_python_out=.", "analytics/protos/analytics.proto"],
                   cwd=tmp_path, check=True)
    for name in ("analytics_pb2.py", "analytics_pb2.pyi", "analytics_pb2_grpc.py"):
        fresh = (tmp_path / "analytics" / "protos" / name).read_text()
        assert fresh == (protos / name).read_text(), f"{name} is stale: run generate.sh"
