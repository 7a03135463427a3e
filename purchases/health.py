"""What /healthz reports: database, broker and analytics, each with a short deadline."""
from __future__ import annotations

import os
import threading

import grpc
from django.conf import settings
from django.db import connection
from grpc_health.v1 import health_pb2, health_pb2_grpc

from purchases.publisher import broker_check

ANALYTICS_DEADLINE_SECONDS = 0.5
_channels: dict[tuple[int, str], grpc.Channel] = {}
_channels_lock = threading.Lock()


def _channel(address: str) -> grpc.Channel:
    # Keyed by pid: a channel must never cross a gunicorn fork.
    key = (os.getpid(), address)
    with _channels_lock:
        if key not in _channels:
            _channels[key] = grpc.insecure_channel(address)
        return _channels[key]


def database_check() -> str | None:
    try:
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        return repr(exc)
    return None


def analytics_check(address: str) -> str:
    stub = health_pb2_grpc.HealthStub(_channel(address))
    try:
        reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=ANALYTICS_DEADLINE_SECONDS)
    except grpc.RpcError as exc:
        return f"unreachable: {exc.code().name}"
    return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)


def _status(error: str | None) -> dict:
    return {"status": "ok"} if error is None else {"status": "down", "error": error}


def health_report() -> tuple[bool, dict]:
    """(whether this process can take purchases, the report)."""
    database = database_check()
    broker = broker_check() if settings.TIGLE_WRITE_MODE == "queue" else None
    ready = (database if settings.TIGLE_WRITE_MODE == "sync" else broker) is None
    analytics = {address: analytics_check(address) for address in settings.ANALYTICS_ADDRESS}
    report = {
        "status": "ok" if ready else "unavailable",
        "mode": settings.TIGLE_WRITE_MODE,
        "database": _status(database),
        "broker": _status(broker) if settings.TIGLE_WRITE_MODE == "queue" else {"status": "unused"},
        "analytics": {
            "status": "ok" if "SERVING" in analytics.values() else "down",
            "replicas": analytics,
        },
    }
    return ready, report
