"""The web process's WSGI application: the API on its short middleware chain, the admin on
the full one, both answering as before."""
import io
import json
import sys

from django.conf import settings
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.urls import URLPattern, URLResolver, get_resolver

from purchases import urls as api_urls
from tigle_project.lean import ApiHandler
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


def route_prefixes(patterns: list, prefix: str = "") -> list[str]:
    found = []
    for pattern in patterns:
        text = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            found += route_prefixes(pattern.url_patterns, text)
        elif isinstance(pattern, URLPattern):
            found.append("/" + text)
    return found


def test_every_api_route_and_nothing_else_takes_the_short_chain():
    api = set(route_prefixes(api_urls.urlpatterns))
    assert api and all(route.startswith(settings.API_PATH_PREFIXES) for route in api)
    others = set(route_prefixes(get_resolver().url_patterns)) - api
    assert any(route.startswith("/admin/") for route in others)
    assert not [route for route in others if route.startswith(settings.API_PATH_PREFIXES)]


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
    assert b"csrfmiddlewaretoken" in content


def test_building_the_api_handler_leaves_the_settings_as_they_were():
    before = list(settings.MIDDLEWARE)
    ApiHandler()
    assert settings.MIDDLEWARE == before and settings.API_MIDDLEWARE != before
