"""HTTP/1.1 pipelining: a client may send its next requests before the answers. What the
parser has already read off the socket with one request is where the epoll cannot see it;
the web worker must notice it (gunicorn_worker._buffered) or the client waits for good.
(Over TLS: test_web_tls.py.)"""
from __future__ import annotations

import socket

from tigle_project.tests.web_process import PATH, POST, statuses_read

NOT_FOUND = b"GET /no-such-page HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def test_pipelined_requests_are_all_answered_in_order(server):
    _, port = server
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.sendall(POST + NOT_FOUND + POST)
        assert statuses_read(client, 3) == [b"201", b"404", b"201"]


def test_a_request_pipelined_behind_a_chunked_body_is_answered(server):
    # The view does not read the body; the parser skips it before the next request.
    _, port = server
    chunked = (f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               "Transfer-Encoding: chunked\r\n\r\n").encode() + b"5\r\n{\"a\":\r\n2\r\n1}\r\n0\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.sendall(chunked + NOT_FOUND)
        assert statuses_read(client, 2) == [b"201", b"404"]
        client.sendall(chunked + chunked + POST)
        assert statuses_read(client, 3) == [b"201", b"201", b"201"]
