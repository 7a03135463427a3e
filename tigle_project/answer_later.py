"""Answering a request after its thread has moved on: the contract between the API's views
and the web worker (gunicorn_worker.LeanThreadWorker).

A thread that waits for the broker's confirm of each purchase sleeps, wakes and takes the
GIL back once per request; under load that was ~9 of the web process's ~12 context switches
per purchase. Instead, the worker marks the environ CAPABLE; a view that has handed its work
over (a publish whose confirm is still to come) puts a Pending in environ[PENDING] and
returns the response it means to send if that work succeeds. The worker renders that
response, frees the thread for the next request, and sends it once the confirmation settles
without an error; otherwise it sends the refusal, with the same headers (the middleware's
security headers included) and its own status, body and Retry-After.

Nothing is answered 201 before the broker confirmed it: the bytes wait with the confirmation.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from django.http import HttpResponse

CAPABLE = "tigle.answer_later"
PENDING = "tigle.pending"


class Settles(Protocol):
    def then(self, callback: Callable[[str | None], None]) -> None: ...


@dataclass(frozen=True)
class Pending:
    confirmation: Settles  # settled with None (done) or why not
    refusal: Callable[[], "HttpResponse"]  # built only if needed: the answer when it failed
