"""loadtest/http_pool.py against real local HTTP servers: keep-alive, waits, failures."""
from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from loadtest.http_pool import ConnectionPool, Request

SLOW_SECONDS = 0.2


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    connections: set[int] = set()

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.connections.add(id(self.connection))
        self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/slow":
            time.sleep(SLOW_SECONDS)
        if self.path == "/drop":
            self.close_connection = True
            self.connection.close()
            return
        body = b'{"message": "chunked"}'
        self.send_response(201)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    _Handler.connections = set()
    http = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    http.daemon_threads = True
    threading.Thread(target=http.serve_forever, daemon=True).start()
    yield http.server_address[1]
    http.shutdown()
    http.server_close()


def _run(port: int, paths: list[str], connections: int, spacing: float = 0.01):
    requests = [Request(path, b"{}", 1) for path in paths]
    with ConnectionPool("127.0.0.1", port, connections, timeout=5) as pool:
        start = time.monotonic() + 0.05
        return sorted(pool.run_at(requests, [start + i * spacing for i in range(len(paths))]))


def test_answers_come_back_on_kept_alive_connections(server):
    answers = _run(server, ["/fast"] * 30, connections=3)
    assert [a.status for a in answers] == [201] * 30 and [a.index for a in answers] == list(range(30))
    assert len(_Handler.connections) == 3


def test_a_request_due_while_every_connection_is_busy_counts_its_wait(server):
    answers = _run(server, ["/slow", "/fast"], connections=1, spacing=0.0)
    # The second was due at the same time, and went out only once the first was answered.
    assert answers[1].latency_s >= SLOW_SECONDS
    assert answers[1].due == answers[0].due


def test_a_connection_the_server_drops_fails_that_request_only(server):
    answers = _run(server, ["/fast", "/drop", "/fast", "/fast"], connections=1)
    assert [a.status for a in answers] == [201, 0, 201, 201]


def test_a_refused_connection_fails_each_request_without_stopping_the_run():
    """A server that takes the pool's connection, drops it and stops listening: the first
    request fails on the dropped connection, the second as its new one is refused."""
    listener = socket.create_server(("127.0.0.1", 0))
    gone = threading.Event()

    def take_one_then_stop() -> None:
        accepted, _ = listener.accept()
        accepted.close()
        listener.close()
        gone.set()

    threading.Thread(target=take_one_then_stop, daemon=True).start()
    with ConnectionPool("127.0.0.1", listener.getsockname()[1], 1, timeout=5) as pool:
        assert gone.wait(5)
        answers = list(pool.run_at([Request("/fast", b"{}", 1)] * 2,
                                   [time.monotonic(), time.monotonic()]))
    assert [a.status for a in answers] == [0, 0]
