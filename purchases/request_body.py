"""A purchase's body as its client sent it: JSON by its Content-Type, sized by its
Content-Length or sent in chunks, never more than the cap."""
from __future__ import annotations

from django.http import HttpRequest

JSON_MEDIA_TYPE = "application/json"


class BodyRefused(Exception):
    """The body cannot be a purchase's: status is the answer's, the text says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _json_type_check(content_type: str) -> None:
    """No Content-Type passes (the body must still be JSON): clients of the Java system
    may not all send one. A type that says the body is something else does not."""
    if not content_type or content_type == JSON_MEDIA_TYPE:  # what clients send, at once
        return
    media_type, *parameters = (part.strip() for part in content_type.split(";"))
    media_type = media_type.lower()
    if media_type != JSON_MEDIA_TYPE and not (
            media_type.startswith("application/") and media_type.endswith("+json")):
        raise BodyRefused(415, f"Content-Type: {content_type!r} is not JSON; "
                               f"send {JSON_MEDIA_TYPE}")
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in (
                "utf-8", "utf8"):
            raise BodyRefused(415, f"Content-Type: {content_type!r}: JSON is sent as utf-8")


def purchase_body(request: HttpRequest, limit: int) -> bytes:
    """The whole body, or BodyRefused (400, 413 or 415)."""
    meta = request.META
    _json_type_check(meta.get("CONTENT_TYPE", ""))
    length = meta.get("CONTENT_LENGTH")
    if length:
        if not (length.isascii() and length.isdigit()):
            raise BodyRefused(400, "Content-Length: is not a number")
        if int(length) > limit:
            raise BodyRefused(413, f"body: larger than {limit} bytes")
        return request.body
    if meta.get("wsgi.input_terminated"):
        # Chunked (no Content-Length): Django reads no body without one, but the server
        # ends the stream where the body ends (the wsgi.input_terminated extension).
        body = meta["wsgi.input"].read(limit + 1)
        if len(body) > limit:
            raise BodyRefused(413, f"body: larger than {limit} bytes")
        return body
    return b""
