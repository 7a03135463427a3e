"""Per-request costs the API does not need to pay, in forms Django and DRF support.

Measured in-process (a POST through the WSGI handler, bench ceiling): content negotiation
was 11% of a request and the message middleware's eager cookie storage 8%; the API has one
renderer and never shows messages. Later (same measurement, 125 us per request): the
admin's middleware chain cost 25-45 us and DRF's Response 19 us.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

from django.conf import settings
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.messages.storage import default_storage
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject, empty
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer

_renderer = JSONRenderer()


class FirstRendererNegotiation(BaseContentNegotiation):
    """For the JSON-only API views: skip parsing Accept headers (DRF's documented pattern).

    Not the default: the schema view chooses between YAML and JSON by Accept.
    """

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class LazyMessageMiddleware(MessageMiddleware):
    """Django's message storage, built only when a view (the admin) uses it."""

    def process_request(self, request: HttpRequest) -> None:
        request._messages = SimpleLazyObject(lambda: default_storage(request))

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        messages = getattr(request, "_messages", None)
        if isinstance(messages, SimpleLazyObject) and messages._wrapped is empty:
            return response  # never touched: nothing to store
        return super().process_response(request, response)


def json_response(data: object, status: int = 200, headers: dict | None = None) -> HttpResponse:
    """The bytes DRF's JSONRenderer writes, without Response's negotiation and template
    machinery (DRF's views take any HttpResponse)."""
    return HttpResponse(_renderer.render(data), status=status, headers=headers,
                        content_type=_renderer.media_type)


class ApiHandler(WSGIHandler):
    """Django's WSGI handler on settings.API_MIDDLEWARE instead of settings.MIDDLEWARE."""

    def load_middleware(self, is_async: bool = False) -> None:
        # Django builds the chain from settings.MIDDLEWARE alone; this runs once, at start-up,
        # before any request, so lending it the API's list is seen by nothing else.
        full = settings.MIDDLEWARE
        settings.MIDDLEWARE = settings.API_MIDDLEWARE
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = full


def by_path(*, prefixes: Iterable[str], api: Callable, rest: Callable) -> Callable:
    """A WSGI application sending paths under prefixes to api and all others to rest."""
    prefixes = tuple(prefixes)

    def application(environ: dict, start_response: Callable) -> Iterable[bytes]:
        handler = api if environ.get("PATH_INFO", "").startswith(prefixes) else rest
        return handler(environ, start_response)

    return application
