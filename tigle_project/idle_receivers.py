"""Django's per-request signal receivers that cannot do anything under this process's settings.

Django runs every request_started and request_finished receiver on every request, and each
walks the cache or database connections through asgiref's context-local storage. Under the
bench's load py-spy put those signals at ~9% of the web's Python time. Two of the receivers
have nothing to do here, by construction:

- close_caches calls close() on every cache in use; the configured backends (LocMem, Redis,
  database) inherit BaseCache.close, which does nothing;
- reset_queries empties each connection's query log, which only grows when DEBUG is on or a
  test forces the debug cursor (and Django's CaptureQueriesContext reconnects it itself).

The receivers that do work stay: close_old_connections (sync mode, the admin and the
database cache hold connections) and reset_urlconf.
"""
from __future__ import annotations

from django.conf import settings
from django.core.cache import close_caches
from django.core.cache.backends.base import BaseCache
from django.core.signals import request_finished, request_started
from django.db import reset_queries
from django.utils.module_loading import import_string


def caches_close_nothing(caches: dict[str, dict]) -> bool:
    return all(import_string(conf["BACKEND"]).close is BaseCache.close
               for conf in caches.values())


def idle_receivers_disconnect() -> list[str]:
    """Disconnects the receivers that would do nothing here; returns their names."""
    dropped = []
    if caches_close_nothing(settings.CACHES):
        request_finished.disconnect(close_caches)
        dropped.append("close_caches")
    if not settings.DEBUG:
        request_started.disconnect(reset_queries)
        dropped.append("reset_queries")
    return dropped
