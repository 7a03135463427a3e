"""The web process's WSGI application: API answers carry their length, type and security
headers and set no cookie; the admin gets its session and CSRF token."""
import io
import json
import sys

from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from tigle_project.wsgi import application


def call(method: str, path: str, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    environ = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "SCRIPT_NAME": "", "QUERY_STRING": "",
        "SERVER_NAME": "testserver", "SERVER_PORT": "80", "HTTP_HOST": "testserver",
        "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body), "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr,
    }
    answer = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        answer["status"] = int(status.split()[0])
        answer["headers"] = {}
        for name, value in headers:
            answer["headers"].setdefault(name.lower(), []).append(value)

    # As Django's test client does: the test's own database connection stays open.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        chunks = application(environ, start_response)
        try:
            content = b"".join(chunks)
        finally:
            chunks.close()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return answer["status"], {k: ", ".join(v) for k, v in answer["headers"].items()}, content


def test_an_api_answer_keeps_its_length_type_and_security_headers():
    status, headers, content = call("POST", "/purchase/0/customer/1/date/20260101", b"{}")
    assert status == 400
    assert json.loads(content)["message"].startswith("storeID: ")
    assert headers["content-type"] == "application/json"
    assert headers["content-length"] == str(len(content))  # else gunicorn would chunk it
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert "set-cookie" not in headers


def test_the_admin_still_gets_sessions_and_csrf():
    status, headers, content = call("GET", "/admin/login/")
    assert status == 200
    assert "csrftoken=" in headers["set-cookie"]
    # Over plain HTTP (make up, the demo) a Secure cookie would never come back: no login.
    assert "secure" not in headers["set-cookie"].lower()
    assert b"csrfmiddlewaretoken" in content

