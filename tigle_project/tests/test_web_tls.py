"""The web server over TLS (gunicorn's --certfile/--keyfile; production ends TLS at the load
balancer): pipelined requests are answered, and a client stalled in the handshake gives its
thread back, whether the handshake runs on the first read (gunicorn's default) or inside
wrap_socket (--do-handshake-on-connect)."""
from __future__ import annotations

import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tigle_project.tests.test_web_pipelining import NOT_FOUND
from tigle_project.stack import Process
from tigle_project.tests.web_process import (
    POST,
    UNREAD_PATH,
    request_raw,
    statuses_read,
    web_running,
)


def tls_files(folder) -> tuple[str, str]:
    """A self-signed key and certificate for 127.0.0.1."""
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return str(key), str(cert)


@contextmanager
def tls_web(tmp_path, name: str, *options: str) -> Iterator[tuple[Process, int, ssl.SSLContext]]:
    """web_running() over TLS: (process, port, the client's context)."""
    key, cert = tls_files(tmp_path)
    client_tls = ssl.create_default_context(cafile=cert)
    with web_running(tmp_path, name, "--keyfile", key, "--certfile", cert, *options,
                     processes=1, tls=client_tls) as (process, port):
        yield process, port, client_tls


def test_pipelined_requests_over_tls_are_all_answered(tmp_path):
    # gunicorn reads 8,192 bytes at a time; requests filling exactly that, sent in one TLS
    # record with more behind them, leave the rest decrypted inside the TLS socket: neither
    # in the parser's buffer nor readable for the epoll.
    pad = b"X-Pad: " + b"p" * 100 + b"\r\n"
    first = [NOT_FOUND] * 7
    filler = 8192 - sum(map(len, first)) - len(NOT_FOUND)
    first.append(NOT_FOUND[:-2] + b"X-Fill: " + b"f" * (filler - 10) + b"\r\n\r\n")
    assert sum(map(len, first)) == 8192
    with tls_web(tmp_path, "web-tls") as (_, port, client_tls), \
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
            client_tls.wrap_socket(raw, server_hostname="127.0.0.1") as client:
        client.sendall(b"".join(first) + NOT_FOUND[:-2] + pad + b"\r\n" + POST)
        assert statuses_read(client, 10) == [b"404"] * 9 + [b"201"]


@pytest.mark.parametrize("handshake", [[], ["--do-handshake-on-connect"]],
                         ids=["on the first read", "on connect"])
def test_a_client_stalled_in_the_tls_handshake_frees_its_thread(tmp_path, handshake):
    # One thread; a client sends the first bytes of a ClientHello and nothing more. After the
    # worker timeout (2 s here, longer than this keep-alive time) the thread gives it up.
    with tls_web(tmp_path, "web-tls-stall", "--threads", "1", "--keep-alive", "1",
                 *handshake) as (process, port, client_tls):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as stalled, \
                socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            stalled.sendall(b"\x16\x03\x01")
            time.sleep(0.3)  # the thread now waits for the rest of the handshake
            started = time.monotonic()
            with client_tls.wrap_socket(raw, server_hostname="127.0.0.1") as waiting:
                assert request_raw(waiting).startswith(b"HTTP/1.1 201")
            assert 0.5 < time.monotonic() - started < 5
            assert stalled.recv(1) == b""  # closed, not answered
        assert "Traceback" not in process.log_text()


def test_an_idle_client_after_an_unread_body_over_tls_holds_no_thread(tmp_path):
    # The app does not read this body; what is left of it waits decrypted in the TLS
    # socket, and is not a next request.
    body = b"x" * 12_000
    post = (f"POST {UNREAD_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    with tls_web(tmp_path, "web-tls-idle", "--threads", "1",
                 "--keep-alive", "5") as (_, port, client_tls), \
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw_idle, \
            client_tls.wrap_socket(raw_idle, server_hostname="127.0.0.1") as idle:
        idle.sendall(post)
        assert statuses_read(idle, 1) == [b"404"]
        started = time.monotonic()  # its handshake, too, needs the thread
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
                client_tls.wrap_socket(raw, server_hostname="127.0.0.1") as other:
            assert request_raw(other).startswith(b"HTTP/1.1 201")
        assert time.monotonic() - started < 1


@pytest.mark.parametrize("handshake", [[], ["--do-handshake-on-connect"]],
                         ids=["on the first read", "on connect"])
def test_a_certificate_the_server_cannot_load_is_logged(tmp_path, handshake):
    # gunicorn loads the key and certificate for each connection.
    with tls_web(tmp_path, "web-tls-gone", *handshake) as (process, port, client_tls):
        (tmp_path / "key.pem").unlink()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with pytest.raises(OSError):
                client_tls.wrap_socket(raw, server_hostname="127.0.0.1")
        deadline = time.monotonic() + 10
        while "No such file or directory" not in process.log_text():
            assert time.monotonic() < deadline, process.log_text()[-2000:]
            time.sleep(0.1)


def test_a_handshake_on_connect_with_no_worker_timeout_is_not_cut(tmp_path):
    with tls_web(tmp_path, "web-tls-no-timeout", "--do-handshake-on-connect", "--timeout", "0",
                 "--keep-alive", "0") as (_, port, client_tls), \
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            client_tls.wrap_socket(raw, server_hostname="127.0.0.1") as client:
        assert request_raw(client).startswith(b"HTTP/1.1 201")
