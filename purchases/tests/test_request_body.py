"""What a purchase's body may come as: JSON by its Content-Type (else 415), sized by
Content-Length or sent in chunks (a real gunicorn: Django's test client sends no chunks),
never past the cap; and what Django refuses before a view runs, answered in JSON."""
import logging
import socket
import sys
from urllib.parse import urlsplit

import pytest
from django.test import Client

from purchases.events import DB_QUEUE
from purchases.models import Purchase
from purchases.tests.conftest import queue_depth
from purchases.tests.test_apis import GOOD_ITEMS, PATH, body
from tigle_project.log_filters import ClientMistakeOneLine

URL = PATH.format(store=5, customer=5123, date="20210101")


@pytest.fixture
def client():
    return Client()


@pytest.mark.django_db
@pytest.mark.parametrize("content_type", [
    "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
    "application/xml", "garbage///", "application/json; charset=utf-16",
])
def test_a_body_that_says_it_is_not_json_gets_415_and_records_nothing(client, broker,
                                                                       content_type):
    before = queue_depth(broker, DB_QUEUE)
    response = client.post(URL, data=body(GOOD_ITEMS), content_type=content_type)
    assert response.status_code == 415, response.content
    assert response.json()["message"].startswith("Content-Type:")
    assert "application/json" in response.json()["message"] or "utf-8" in response.json()["message"]
    assert queue_depth(broker, DB_QUEUE) == before
    assert not Purchase.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("content_type", [
    "application/json", "Application/JSON; charset=UTF-8", "application/vnd.tigle+json", "",
])
def test_json_by_any_name_or_no_content_type_is_taken(client, broker, content_type):
    before = queue_depth(broker, DB_QUEUE)
    response = client.generic("POST", URL, body(GOOD_ITEMS).encode(), content_type=content_type)
    assert response.status_code == 201, response.content
    assert queue_depth(broker, DB_QUEUE) == before + 1


def test_options_names_json_as_what_the_purchase_takes(client):
    response = client.options(URL)
    assert response.status_code == 200
    assert response.json()["parses"] == ["application/json"]


def test_a_host_not_served_gets_a_json_400(client):
    response = client.get("/healthz", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert response.json() == {
        "message": "Host: 'evil.example' is not a name this server answers to"}


def test_django_security_refusals_are_one_warning_line():
    try:
        raise ValueError("Invalid HTTP_HOST header: 'evil.example'")
    except ValueError:
        record = logging.LogRecord("django.security.DisallowedHost", logging.ERROR, __file__, 1,
                                   "Invalid HTTP_HOST header", None, sys.exc_info())
    other = logging.LogRecord("purchases.apis", logging.ERROR, __file__, 1, "real", None, None)
    one_line = ClientMistakeOneLine()
    assert one_line.filter(record) and one_line.filter(other)
    assert (record.levelname, record.exc_info) == ("WARNING", None)
    assert other.levelname == "ERROR"  # only Django's security refusals


def raw_post(base: str, head: bytes, body: bytes) -> bytes:
    address = urlsplit(base)
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall(b"POST " + URL.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + head +
                     b"\r\n" + body)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer


def chunked(data: bytes, size: int) -> bytes:
    parts = [data[i:i + size] for i in range(0, len(data), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts) + b"0\r\n\r\n"


@pytest.mark.slow
def test_a_chunked_body_is_read_whole_and_one_past_the_cap_is_413(stack, broker):
    stack.start_web()
    head = b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
    answer = raw_post(stack.base, head, chunked(body(GOOD_ITEMS).encode(), 7))
    assert answer.startswith(b"HTTP/1.1 201"), answer
    assert queue_depth(broker, DB_QUEUE) == 1
    too_big = body(GOOD_ITEMS).encode() + b" " * (65 * 1024)
    answer = raw_post(stack.base, head, chunked(too_big, 4096))
    assert answer.startswith(b"HTTP/1.1 413"), answer
    assert b"larger than" in answer
    assert queue_depth(broker, DB_QUEUE) == 1
    address = urlsplit(stack.base)
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")
        refused = b"".join(iter(lambda: sock.recv(65536), b""))
    assert refused.startswith(b"HTTP/1.1 400") and b"is not a name this server" in refused
    log = stack.web.log_text()
    assert "WARNING django.security.DisallowedHost" in log
    assert "Traceback" not in log
