"""The JSON API's answers: DRF's JSON bytes without the per-request machinery it does not use."""
from __future__ import annotations

from django.http import HttpResponse
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer

_renderer = JSONRenderer()


class FirstRendererNegotiation(BaseContentNegotiation):
    """The API's views speak JSON only: no Accept parsing (DRF's documented pattern).

    Not the default: the schema view chooses between YAML and JSON by Accept.
    """

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def json_response(data: object, status: int = 200, headers: dict | None = None) -> HttpResponse:
    """The bytes DRF's JSONRenderer writes, as a plain HttpResponse (DRF's views take any)."""
    return HttpResponse(_renderer.render(data), status=status, headers=headers,
                        content_type=_renderer.media_type)
