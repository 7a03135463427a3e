"""What /healthz reports: database, broker and analytics, each with a short deadline; and
/healthz/reads, for hosts that only answer the top-N reads: analytics alone."""
from __future__ import annotations

import os
import threading
from concurrent.futures import TimeoutError as FutureTimeout

import grpc
from django.conf import settings
from django.db import connection
from grpc_health.v1 import health_pb2, health_pb2_grpc

from purchases.analytics_client import RECONNECT_OPTIONS
from purchases.broker.publishing import broker_check
from purchases.greenlets import process_native_executor

ANALYTICS_DEADLINE_SECONDS = 0.5
# In queue mode the database is only reported; an unreachable host must not slow the answer.
DATABASE_REPORT_DEADLINE_SECONDS = 1.0
_channels: dict[tuple[int, str], grpc.Channel] = {}
_per_process_lock = threading.Lock()


def _channel(address: str) -> grpc.Channel:
    # Keyed by pid: a channel must never cross a gunicorn fork.
    key = (os.getpid(), address)
    with _per_process_lock:
        if key not in _channels:
            _channels[key] = grpc.insecure_channel(address, options=RECONNECT_OPTIONS)
        return _channels[key]


def database_check() -> str | None:
    try:
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        return repr(exc)
    return None


def _database_check_closing() -> str | None:
    try:
        return database_check()
    finally:
        connection.close()  # this helper thread's own connection; nothing reuses it


def database_report() -> str | None:
    """database_check() with a deadline, run beside the request."""
    # Native threads: under gevent, a database that does not answer would hold every
    # request of the process for the connect timeout.
    executor = process_native_executor("healthz", 2)
    try:
        return executor.submit(_database_check_closing).result(DATABASE_REPORT_DEADLINE_SECONDS)
    except FutureTimeout:
        return f"no answer within {DATABASE_REPORT_DEADLINE_SECONDS}s"


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
    sync = settings.TIGLE_WRITE_MODE == "sync"
    database = database_check() if sync else database_report()
    broker = None if sync else broker_check()
    ready = (database if sync else broker) is None
    report = {
        "status": "ok" if ready else "unavailable",
        "mode": settings.TIGLE_WRITE_MODE,
        "database": _status(database),
        "broker": {"status": "unused"} if sync else _status(broker),
        "analytics": _analytics_report(),
    }
    return ready, report


def reads_health_report() -> tuple[bool, dict]:
    """(whether this process can answer the top-N reads: some analytics replica serves, the
    report). Broker and database are not asked: the reads use neither."""
    analytics = _analytics_report()
    ready = analytics["status"] == "ok"
    return ready, {"status": "ok" if ready else "unavailable", "analytics": analytics}


def _analytics_report() -> dict:
    replicas = {address: analytics_check(address) for address in settings.ANALYTICS_ADDRESS}
    return {"status": "ok" if "SERVING" in replicas.values() else "down", "replicas": replicas}
