"""HTTP/1.1 pipelining: a client may send its next requests before the answers. What the
parser has already read off the socket with one request is where the epoll cannot see it;
the web worker must notice it (gunicorn_worker._buffered) or the client waits for good."""
from __future__ import annotations

import socket
import ssl
import subprocess

from tigle_project.tests.web_process import PATH, POST, statuses_read, web

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


def tls_files(folder) -> tuple[str, str]:
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return str(key), str(cert)


def test_pipelined_requests_over_tls_are_all_answered(tmp_path):
    # gunicorn reads 8,192 bytes at a time; requests filling exactly that, sent in one TLS
    # record with more behind them, leave the rest decrypted inside the TLS socket: neither
    # in the parser's buffer nor readable for the epoll.
    key, cert = tls_files(tmp_path)
    client_tls = ssl.create_default_context(cafile=cert)
    process, port = web(tmp_path, "web-tls", "--keyfile", key, "--certfile", cert, processes=1,
                        tls=client_tls)
    pad = b"X-Pad: " + b"p" * 100 + b"\r\n"
    first = [NOT_FOUND] * 7
    filler = 8192 - sum(map(len, first)) - len(NOT_FOUND)
    padded = NOT_FOUND[:-2] + b"X-Fill: " + b"f" * (filler - 10) + b"\r\n\r\n"
    first.append(padded)
    assert sum(map(len, first)) == 8192
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
                client_tls.wrap_socket(raw, server_hostname="127.0.0.1") as client:
            client.sendall(b"".join(first) + NOT_FOUND[:-2] + pad + b"\r\n" + POST)
            assert statuses_read(client, 10) == [b"404"] * 9 + [b"201"]
    finally:
        process.stop()
