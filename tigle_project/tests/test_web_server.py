"""The web server as configured (gunicorn_conf.py, stock gthread): more kept-alive clients
than threads are all served, an idle worker still reports that it is alive, and a request
in flight at SIGTERM is answered before the worker exits (pipelining: test_web_pipelining.py).

The view answers in the bench's ceiling mode: these tests are about the server, not the app.
"""
from __future__ import annotations

import http.client
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tigle_project.tests.web_process import (
    BODY,
    PATH,
    WORKER_TIMEOUT,
    request_raw,
    response_raw,
    web_running,
)


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



def test_the_log_says_where_the_web_listens(server):
    process, port = server
    # gunicorn's own line names no address with reuse_port (one socket per worker).
    process.wait_for_log(f"Each worker listens on 127.0.0.1:{port}", timeout=10)


def test_head_is_answered_without_a_body_and_without_a_warning(server):
    process, port = server
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        for _ in range(3):
            connection.request("HEAD", "/healthz")
            response = connection.getresponse()
            assert (response.status, response.read()) == (200, b"")
            assert int(response.headers["Content-Length"]) > 0  # what GET would send
    finally:
        connection.close()
    assert "no-body response" not in process.log_text()


def test_a_full_worker_takes_the_next_connection_once_one_closes(tmp_path):
    # One thread, three connections at most, so at most two kept alive after a request.
    with web_running(tmp_path, "web-full", "--threads", "1", "--worker-connections", "3",
                     processes=1) as (_, port):
        first = socket.create_connection(("127.0.0.1", port), timeout=10)
        second = socket.create_connection(("127.0.0.1", port), timeout=10)
        assert request_raw(first).startswith(b"HTTP/1.1 201")
        assert request_raw(second).startswith(b"HTTP/1.1 201")
        silent = socket.create_connection(("127.0.0.1", port), timeout=10)
        time.sleep(0.3)  # accepted: the worker is full
        with socket.create_connection(("127.0.0.1", port), timeout=10) as fourth:
            fourth.settimeout(1.5)
            with pytest.raises(socket.timeout):  # in the listen backlog: not accepted yet
                request_raw(fourth)
            first.close()
            fourth.settimeout(10)
            assert response_raw(fourth).startswith(b"HTTP/1.1 201")
        second.close()
        silent.close()


def test_an_idle_worker_is_not_taken_for_hung(server):
    process, port = server
    time.sleep(3 * WORKER_TIMEOUT)
    assert store_day(port, 1) == [201]
    log = process.log_text()
    assert "WORKER TIMEOUT" not in log
    assert log.count("Booting worker") == 2, log


def test_a_request_in_flight_at_sigterm_is_answered(tmp_path):
    with web_running(tmp_path, "web-stop") as (process, port), \
            socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        # Half a request: a worker thread takes the connection and waits for the rest.
        client.sendall(f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode())
        time.sleep(0.5)
        process.signal_group(15)
        time.sleep(1.5)  # the worker's loop has seen the signal and stopped accepting
        assert process.running
        client.sendall(b"Content-Type: application/json\r\nContent-Length: "
                       + str(len(BODY)).encode() + b"\r\n\r\n" + BODY)
        assert client.recv(65536).startswith(b"HTTP/1.1 201")
        process.popen.wait(timeout=15)
        assert "Shutting down: Master" in process.log_text()




def test_an_access_log_asked_for_is_written(tmp_path):
    """The worker reads once whether gunicorn logs access; asked for, every request is there."""
    access = tmp_path / "access.log"
    with web_running(tmp_path, "web-access", "--access-logfile", str(access),
                     processes=1) as (_, port):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            assert request_raw(client).startswith(b"HTTP/1.1 201")
        deadline = time.monotonic() + 10
        while f'"POST {PATH} HTTP/1.1" 201' not in (access.read_text() if access.exists() else ""):
            assert time.monotonic() < deadline, access.read_text() if access.exists() else "none"
            time.sleep(0.1)



def test_no_worker_timeout_means_no_stall_limit(tmp_path):
    # --timeout 0 turns gunicorn's worker timeout off; a slow client then keeps its thread,
    # as with gunicorn's own worker, even with no keep-alive time to fall back on.
    with web_running(tmp_path, "web-no-timeout", "--timeout", "0", "--keep-alive", "0",
                     processes=1) as (_, port), \
            socket.create_connection(("127.0.0.1", port), timeout=10) as slow:
        slow.sendall(f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode())
        time.sleep(2.5)  # the worker's loop looks for stalled clients once a second
        slow.sendall(b"Content-Type: application/json\r\nContent-Length: "
                     + str(len(BODY)).encode() + b"\r\n\r\n" + BODY)
        assert response_raw(slow).startswith(b"HTTP/1.1 201")


def test_with_keep_alive_off_a_new_connection_still_gets_its_first_request_answered(tmp_path):
    # --keep-alive 0 means one request per connection, not that a client must send at once.
    with web_running(tmp_path, "web-keepalive-off", "--keep-alive", "0",
                     processes=1) as (_, port), \
            socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        time.sleep(1.5)  # the worker's loop looks for idle connections once a second
        answer = request_raw(client)
        assert answer.startswith(b"HTTP/1.1 201") and b"Connection: close" in answer, answer
