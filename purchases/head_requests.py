"""HEAD answered as GET is, without its body.

Django leaves dropping a HEAD answer's body to the server; gunicorn drops it too, but logs a
warning for every such answer, so a monitor that checks with HEAD would fill the log.
"""
from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse


def head_without_body(get_response: Callable[[HttpRequest], HttpResponse]) -> Callable:
    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        if request.method == "HEAD" and not response.streaming:
            # The length GET would have sent, as RFC 9110 lets a HEAD answer say.
            response["Content-Length"] = str(len(response.content))
            response.content = b""
        return response

    return middleware
