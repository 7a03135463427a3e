"""Behind the load balancer, gunicorn (wsgi.url_scheme) and Django (request.is_secure()) take
a request's scheme from X-Forwarded-Proto alone, from a peer that is not loopback too."""
from __future__ import annotations

import os
import socket
import sys
import urllib.request

import pytest

from loadtest.stack import Process, free_port, wait_http


def private_address() -> str | None:
    """This machine's address on its default route: a peer gunicorn's default would not trust."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: the kernel picks the route
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") else address


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    address = private_address()
    if address is None:
        pytest.skip("no address besides loopback to connect from")
    tmp_path, port = tmp_path_factory.mktemp("scheme"), free_port()
    env = {**os.environ, "TIGLE_VAR_DIR": str(tmp_path), "WEB_CONCURRENCY": "1"}
    process = Process("scheme", [sys.executable, "-m", "gunicorn", "-c",
                                 "python:tigle_project.gunicorn_conf", "--bind",
                                 f"{address}:{port}",
                                 "tigle_project.tests.scheme_app:application"],
                      env, tmp_path / "scheme.log").start()
    try:
        wait_http(f"http://{address}:{port}/", process)
        yield f"http://{address}:{port}/"
    finally:
        process.stop()


@pytest.mark.parametrize(("headers", "seen"), [
    ({}, "http http"),
    ({"X-Forwarded-Proto": "https"}, "https https"),
    ({"X-Forwarded-Proto": "http"}, "http http"),
    # The load balancer passes a client's own X-Forwarded-Ssl through: it must count for nothing
    # (gunicorn's default would believe it, or answer 400 when it disagrees).
    ({"X-Forwarded-Ssl": "on"}, "http http"),
    ({"X-Forwarded-Proto": "https", "X-Forwarded-Ssl": "off"}, "https https"),
])
def test_gunicorn_and_django_agree_on_the_scheme(base, headers, seen):
    with urllib.request.urlopen(urllib.request.Request(base, headers=headers), timeout=10) as r:
        assert r.read().decode() == seen
