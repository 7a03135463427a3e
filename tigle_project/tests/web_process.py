"""A web process as configured (gunicorn_conf.py), for the web server's tests, and raw HTTP
over a socket: what these tests check is on the wire."""
from __future__ import annotations

import os
import re
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager

from loadtest.stack import Process, free_port, wait_http, web_argv

PATH = "/purchase/7/customer/42/date/20260101"
BODY = b'{"items": [{"ItemID": "5", "numberOfItems": 2}]}'
POST = (f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(BODY)}\r\n\r\n").encode() + BODY
# A POST here is answered 404 without its body read: the server must read past it itself.
UNREAD_PATH = "/no-such-page"
# gunicorn kills a worker that has not reported for this long; the worker reports every 1 s.
WORKER_TIMEOUT = 2


@contextmanager
def web_running(tmp_path, name: str, *options: str, processes: int = 2,
                tls: ssl.SSLContext | None = None) -> Iterator[tuple[Process, int]]:
    """(process, port) of a web process answering in the bench's ceiling mode (these tests
    are about the server, not the app), stopped when the block ends: it runs in a session of
    its own, so nothing else would stop it. tls: the client's context, when options give it
    a certificate."""
    port = free_port()
    env = {**os.environ, "TIGLE_BENCH_CEILING": "1", "TIGLE_VAR_DIR": str(tmp_path),
           "WEB_CONCURRENCY": str(processes), "WEB_THREADS": "4"}
    process = Process(name, [*web_argv(port), "--timeout", str(WORKER_TIMEOUT), *options], env,
                      tmp_path / f"{name}.log").start()
    try:
        wait_http(f"{'https' if tls else 'http'}://127.0.0.1:{port}{PATH}", process, context=tls)
        yield process, port
    finally:
        process.stop()


def response_raw(client: socket.socket) -> bytes:
    """One whole response: headers and body may come in separate segments."""
    data = b""
    while b"\r\n\r\n" not in data and (chunk := client.recv(65536)):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?im)^content-length: *(\d+)", head).group(1))
    while len(body) < length and (chunk := client.recv(65536)):
        body += chunk
    return head + b"\r\n\r\n" + body


def request_raw(client: socket.socket) -> bytes:
    client.sendall(POST)
    return response_raw(client)


def statuses_read(client: socket.socket, count: int) -> list[bytes]:
    """The status codes of the next count responses, in the order they came."""
    data = b""
    while len(re.findall(rb"HTTP/1\.1 \d{3} ", data)) < count and (chunk := client.recv(65536)):
        data += chunk
    return re.findall(rb"HTTP/1\.1 (\d{3}) ", data)
