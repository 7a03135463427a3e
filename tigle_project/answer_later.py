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

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.http import HttpResponse

CAPABLE = "tigle.answer_later"
PENDING = "tigle.pending"


class Confirmation:
    """One publish's outcome, told later: the pipeline settles it once, with None (confirmed)
    or why not; whoever waits for it (the web worker, to answer the request) asks once with
    then(), before or after it is settled."""

    __slots__ = ("_lock", "_settled", "_error", "_callback")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._settled = False
        self._error: str | None = None
        self._callback = None

    def settle(self, error: str | None) -> None:
        with self._lock:
            if self._settled:
                return
            self._settled, self._error, callback = True, error, self._callback
            # The callback holds what holds this confirmation (the waiting response): kept,
            # that cycle would leave each answered request to the cyclic garbage collector.
            self._callback = None
        if callback is not None:
            callback(error)

    def then(self, callback) -> None:
        """callback(error) once settled: at once if it is, else from the settling thread."""
        with self._lock:
            if not self._settled:
                self._callback = callback
                return
        callback(self._error)


@dataclass(frozen=True)
class Pending:
    confirmation: Confirmation
    refusal: Callable[[], "HttpResponse"]  # built only if needed: the answer when it failed
