"""The web server as configured (gunicorn_conf.py, the LeanThreadWorker): more kept-alive
clients than threads are all served, an idle worker still reports that it is alive, and a
request in flight at SIGTERM is answered before the worker exits (pipelining:
test_web_pipelining.py).

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


def test_idle_connections_are_closed_after_the_keep_alive_time(tmp_path):
    with web_running(tmp_path, "web-keepalive", "--keep-alive", "1") as (_, port):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as used, \
                socket.create_connection(("127.0.0.1", port), timeout=10) as silent:
            assert request_raw(used).startswith(b"HTTP/1.1 201")
            started = time.monotonic()
            # The server closes both: recv returns the end of the stream, not a timeout.
            assert used.recv(1) == b""
            assert silent.recv(1) == b""
            assert time.monotonic() - started < 5


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


def test_a_client_gone_silent_mid_request_frees_its_thread(tmp_path):
    # One thread; a client sends half its headers and nothing more (a half-open connection
    # looks the same). After the worker timeout (2 s here, longer than this keep-alive time)
    # the thread gives it up and answers others.
    with web_running(tmp_path, "web-silent", "--threads", "1", "--keep-alive", "1",
                     processes=1) as (process, port):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as silent, \
                socket.create_connection(("127.0.0.1", port), timeout=10) as waiting:
            silent.sendall(f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode())
            time.sleep(0.3)  # the thread now waits for the rest of these headers
            started = time.monotonic()
            assert request_raw(waiting).startswith(b"HTTP/1.1 201")
            assert 0.5 < time.monotonic() - started < 5
            assert silent.recv(1) == b""  # closed, not answered
            # The thread is free again: the waiting client's next request is answered at once.
            started = time.monotonic()
            assert request_raw(waiting).startswith(b"HTTP/1.1 201")
            assert time.monotonic() - started < 0.5
        assert "Traceback" not in process.log_text()


def test_a_read_goes_ahead_of_the_queued_purchases(tmp_path):
    # One thread, held by a request whose headers are still coming; purchases queue behind it.
    # Its access log has the order the thread answered in.
    access = tmp_path / "access.log"
    queued = []
    with web_running(tmp_path, "web-reads", "--threads", "1", "--access-logfile", str(access),
                     processes=1) as (_, port):
        try:
            slow = socket.create_connection(("127.0.0.1", port), timeout=10)
            slow.sendall(f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode())
            time.sleep(0.3)  # the thread now waits for the rest of these headers
            for _ in range(100):
                purchase = socket.create_connection(("127.0.0.1", port), timeout=10)
                purchase.sendall(f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                                 f"application/json\r\nContent-Length: {len(BODY)}\r\n\r\n".encode()
                                 + BODY)
                queued.append(purchase)
            read = socket.create_connection(("127.0.0.1", port), timeout=10)
            read.sendall(b"GET /items/store/0 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            time.sleep(0.5)  # every request above is with the worker
            slow.sendall(f"Content-Type: application/json\r\nContent-Length: {len(BODY)}\r\n\r\n"
                         .encode() + BODY)
            assert response_raw(slow).startswith(b"HTTP/1.1 201")
            assert response_raw(read).startswith(b"HTTP/1.1 400")
            assert all(response_raw(purchase).startswith(b"HTTP/1.1 201") for purchase in queued)
            # gunicorn logs a request after its answer is sent: the last line may come a moment
            # after the client has read it.
            deadline = time.monotonic() + 10
            while True:
                order = [method for line in access.read_text().splitlines()
                         for method, path in (("POST", PATH), ("GET", "/items/store/0"))
                         if f'"{method} {path} ' in line]
                if len(order) == 2 + len(queued) or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            assert order.count("POST") == 1 + len(queued) and order.count("GET") == 1
            # First in, it would be last; a read goes before the queue as soon as the worker's
            # loop has seen it (a purchase or two may be taken while it looks).
            assert order.index("GET") <= 3, order[:10]
        finally:
            for purchase in queued:
                purchase.close()


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


def test_the_access_log_check_matches_gunicorns_logger():
    from gunicorn.config import Config

    from tigle_project.gunicorn_answer_later import access_logged

    cfg = Config()
    assert not access_logged(cfg)  # gunicorn's default: no access log
    cfg.set("accesslog", "-")
    assert access_logged(cfg)
    cfg = Config()
    cfg.set("syslog", True)
    assert access_logged(cfg)
    cfg.set("disable_redirect_access_to_syslog", True)
    assert not access_logged(cfg)
    cfg = Config()
    cfg.set("statsd_host", "127.0.0.1:8125")  # another logger class: it decides per call
    assert access_logged(cfg)


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
