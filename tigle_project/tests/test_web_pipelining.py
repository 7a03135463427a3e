"""HTTP/1.1 pipelining on the web as configured (stock gthread): a client may send its next
requests before the answers, or a body the app never reads; each is answered in order and
no idle client holds a thread. gunicorn 23's gthread left pipelined requests unanswered."""
from __future__ import annotations

import socket
import time

from loadtest.cpu import tree_cpu

from tigle_project.tests.web_process import (
    BODY,
    POST,
    UNREAD_PATH,
    request_raw,
    response_raw,
    statuses_read,
    web_running,
)

NOT_FOUND = b"GET /no-such-page HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def test_pipelined_requests_are_all_answered_in_order(server):
    _, port = server
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.sendall(POST + NOT_FOUND + POST)
        assert statuses_read(client, 3) == [b"201", b"404", b"201"]


CHUNKED = (f"POST {UNREAD_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
           "Transfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n2\r\n1}\r\n0\r\n\r\n").encode()


def test_a_request_pipelined_behind_a_chunked_body_is_answered(server):
    # The app does not read the body; the worker reads what has arrived of it.
    _, port = server
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.sendall(CHUNKED + NOT_FOUND)
        assert statuses_read(client, 2) == [b"404", b"404"]
        client.sendall(CHUNKED + CHUNKED + POST)
        assert statuses_read(client, 3) == [b"404", b"404", b"201"]


def test_an_idle_client_after_a_chunked_body_holds_no_thread(tmp_path):
    # One thread: a client that sent a chunked body (unread by the view) and went quiet must
    # not hold it waiting for a next request.
    with web_running(tmp_path, "web-chunked-idle", "--threads", "1", "--keep-alive", "5",
                     processes=1) as (_, port), \
            socket.create_connection(("127.0.0.1", port), timeout=10) as idle, \
            socket.create_connection(("127.0.0.1", port), timeout=10) as other:
        idle.sendall(CHUNKED)
        assert statuses_read(idle, 1) == [b"404"]
        started = time.monotonic()
        assert request_raw(other).startswith(b"HTTP/1.1 201")
        assert time.monotonic() - started < 1


def test_an_idle_client_whose_body_came_after_the_answer_holds_no_thread(tmp_path):
    # The app answers without reading the body (a 413, a 404); the body comes after the
    # answer, as after `Expect: 100-continue`. Waiting past it for a next request would hold
    # the one thread.
    head = (f"POST {UNREAD_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
            f"application/json\r\nContent-Length: {len(BODY)}\r\n\r\n").encode()
    with web_running(tmp_path, "web-late-body", "--threads", "1", "--keep-alive", "5",
                     processes=1) as (_, port), \
            socket.create_connection(("127.0.0.1", port), timeout=10) as idle, \
            socket.create_connection(("127.0.0.1", port), timeout=10) as other:
        idle.sendall(head)
        assert response_raw(idle).startswith(b"HTTP/1.1 404")
        idle.sendall(BODY)
        time.sleep(0.3)
        started = time.monotonic()
        assert request_raw(other).startswith(b"HTTP/1.1 201")
        assert time.monotonic() - started < 1
        # Its connection is still good for the next request.
        assert request_raw(idle).startswith(b"HTTP/1.1 201")


def test_an_unread_body_arriving_in_pieces_is_read_past_to_the_next_request(server):
    # Over 1 KiB, in pieces, after the answer: every byte of it is read past, none of the
    # next request is taken for it.
    _, port = server
    body = b"x" * 3000
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.sendall(f"POST {UNREAD_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       f"Content-Length: {len(body)}\r\n\r\n".encode())
        assert response_raw(client).startswith(b"HTTP/1.1 404")
        for piece in (body[:1500], body[1500:2999], body[2999:]):
            client.sendall(piece)
            time.sleep(0.2)
        assert request_raw(client).startswith(b"HTTP/1.1 201")


def test_a_client_gone_mid_body_is_closed_not_spun_on(tmp_path):
    with web_running(tmp_path, "web-gone-mid-body", "--threads", "1",
                     processes=1) as (process, port):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as gone:
            gone.sendall(f"POST {UNREAD_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         f"Content-Length: {10**12}\r\n\r\n".encode() + b"x" * 100)
            assert response_raw(gone).startswith(b"HTTP/1.1 404")
        time.sleep(0.5)
        before = tree_cpu(process.popen.pid)
        time.sleep(2)
        assert tree_cpu(process.popen.pid) - before < 0.5  # a loop on it would take ~2 s
        with socket.create_connection(("127.0.0.1", port), timeout=5) as other:
            assert request_raw(other).startswith(b"HTTP/1.1 201")
