"""/healthz against real services: this run's broker, database and a real gRPC health server."""
from concurrent import futures

import grpc
import pytest
from django.test import Client, override_settings
from grpc_health.v1 import health, health_pb2, health_pb2_grpc


@pytest.fixture
def analytics_health():
    """A real gRPC server on port 0 serving grpc.health.v1, as analytics will."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield servicer, f"127.0.0.1:{port}"
    server.stop(None)


@pytest.mark.django_db
def test_it_is_ready_with_broker_and_database_up_and_shows_analytics(broker, analytics_health):
    servicer, address = analytics_health
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    with override_settings(ANALYTICS_ADDRESS=[address, "127.0.0.1:1"]):
        response = Client().get("/healthz")
    assert response.status_code == 200
    report = response.json()
    assert report["database"]["status"] == report["broker"]["status"] == "ok"
    assert report["analytics"]["status"] == "ok"
    assert report["analytics"]["replicas"][address] == "SERVING"
    assert report["analytics"]["replicas"]["127.0.0.1:1"].startswith("unreachable")


@pytest.mark.django_db
def test_it_stays_ready_when_analytics_is_down_or_not_serving(broker, analytics_health):
    servicer, address = analytics_health
    servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    with override_settings(ANALYTICS_ADDRESS=[address]):
        response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json()["analytics"] == {"status": "down", "replicas": {address: "NOT_SERVING"}}


@pytest.mark.django_db
def test_it_needs_the_database_not_the_broker_in_sync_mode():
    with override_settings(TIGLE_WRITE_MODE="sync"):
        response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json()["broker"] == {"status": "unused"}


def test_it_stays_ready_and_quick_in_queue_mode_when_the_database_does_not_answer(stack):
    """A database host that accepts connections but never answers (a hung proxy)."""
    import socket
    import threading
    import time
    import urllib.parse

    import requests

    silent = socket.create_server(("127.0.0.1", 0))
    held = []
    threading.Thread(target=lambda: held.append(silent.accept()), daemon=True).start()
    parts = urllib.parse.urlsplit(stack.database_url)
    hung = parts._replace(netloc=f"root@127.0.0.1:{silent.getsockname()[1]}").geturl()
    stack.start_web(DATABASE_URL=hung)
    started = time.monotonic()
    response = requests.get(f"{stack.base}/healthz", timeout=10)
    assert time.monotonic() - started < 3
    assert response.status_code == 200
    assert response.json()["database"]["status"] == "down"
    silent.close()


def test_the_reads_check_asks_analytics_alone(analytics_health, monkeypatch):
    """Read hosts (`/items/*`) use neither broker nor database: their check must not fail
    with those, and must fail when no analytics replica serves."""
    import purchases.health

    def down(*args):
        raise AssertionError("the reads check asked the broker or the database")

    monkeypatch.setattr(purchases.health, "broker_check", down)
    monkeypatch.setattr(purchases.health, "database_check", down)
    servicer, address = analytics_health
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    with override_settings(ANALYTICS_ADDRESS=["127.0.0.1:1", address]):
        response = Client().get("/healthz/reads")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["analytics"]["replicas"][address] == "SERVING"

    servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    with override_settings(ANALYTICS_ADDRESS=["127.0.0.1:1", address]):
        response = Client().get("/healthz/reads")
    assert response.status_code == 503
    report = response.json()
    assert (report["status"], report["analytics"]["status"]) == ("unavailable", "down")
    assert report["analytics"]["replicas"][address] == "NOT_SERVING"
    assert report["analytics"]["replicas"]["127.0.0.1:1"].startswith("unreachable")
    assert set(report) == {"status", "analytics"}
