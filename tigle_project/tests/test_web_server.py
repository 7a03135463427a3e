"""The web server as configured (gunicorn_conf.py, the LeanThreadWorker): more kept-alive
clients than threads are all served, an idle worker still reports that it is alive, and a
request in flight at SIGTERM is answered before the worker exits.

The view answers in the bench's ceiling mode: these tests are about the server, not the app.
"""
from __future__ import annotations

import http.client
import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tigle_project.stack import Process, free_port, wait_http, web_argv

PATH = "/purchase/7/customer/42/date/20260101"
BODY = b'{"items": [{"ItemID": "5", "numberOfItems": 2}]}'
# gunicorn kills a worker that has not reported for this long; the worker reports every 1 s.
WORKER_TIMEOUT = 2


def web(tmp_path, name: str) -> tuple[Process, int]:
    port = free_port()
    env = {**os.environ, "TIGLE_BENCH_CEILING": "1", "TIGLE_VAR_DIR": str(tmp_path),
           "WEB_CONCURRENCY": "2", "WEB_THREADS": "4"}
    process = Process(name, [*web_argv(port), "--timeout", str(WORKER_TIMEOUT)], env,
                      tmp_path / f"{name}.log").start()
    wait_http(f"http://127.0.0.1:{port}{PATH}", process)
    return process, port


@pytest.fixture
def server(tmp_path):
    process, port = web(tmp_path, "web")
    yield process, port
    process.stop()


def store_day(port: int, requests: int) -> list[int]:
    """One kept-alive connection, requests one after another, as a store sends them."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        statuses = []
        for _ in range(requests):
            connection.request("POST", PATH, BODY, {"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            statuses.append(response.status)
        return statuses
    finally:
        connection.close()


def test_more_kept_alive_stores_than_threads_are_all_answered(server):
    _, port = server
    stores = 40  # 2 processes x 4 threads = 8 requests at a time
    with ThreadPoolExecutor(stores) as pool:
        days = list(pool.map(store_day, [port] * stores, [5] * stores))
    assert days == [[201] * 5] * stores


def test_an_idle_worker_is_not_taken_for_hung(server):
    process, port = server
    time.sleep(3 * WORKER_TIMEOUT)
    assert store_day(port, 1) == [201]
    log = process.log_text()
    assert "WORKER TIMEOUT" not in log
    assert log.count("Booting worker") == 2, log


def test_a_request_in_flight_at_sigterm_is_answered(tmp_path):
    process, port = web(tmp_path, "web-stop")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        # Half a request: a worker thread takes the connection and waits for the rest.
        client.sendall(f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode())
        time.sleep(0.5)
        process.signal_group(15)
        time.sleep(1.5)  # the worker's loop has seen the signal and stopped accepting
        assert process.running
        client.sendall(b"Content-Type: application/json\r\nContent-Length: "
                       + str(len(BODY)).encode() + b"\r\n\r\n" + BODY)
        answer = client.recv(65536)
    assert answer.startswith(b"HTTP/1.1 201"), answer
    process.popen.wait(timeout=15)
    assert "Shutting down: Master" in process.log_text()
