"""The web drops only the request receivers that cannot do anything under its settings."""
import importlib

import pytest
from django.core.cache import close_caches
from django.core.handlers.base import reset_urlconf
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, reset_queries
from django.test import override_settings

from tigle_project.idle_receivers import caches_close_nothing, idle_receivers_disconnect

LOCMEM = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
REDIS = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://x"}
DATABASE = {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "t"}
# Its close() really closes the client's sockets.
MEMCACHED = {"BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache",
             "LOCATION": "127.0.0.1:11211"}
RECEIVERS = [(request_started, reset_queries), (request_started, close_old_connections),
             (request_finished, close_caches), (request_finished, close_old_connections),
             (request_finished, reset_urlconf)]


def connected(signal, receiver) -> bool:
    """Public API only: disconnect() says whether it was connected; put it back if so."""
    was = signal.disconnect(receiver)
    if was:
        signal.connect(receiver)
    return was


@pytest.fixture
def django_receivers():
    """All five connected, as Django leaves them; afterwards, as the session had them."""
    before = [connected(signal, receiver) for signal, receiver in RECEIVERS]
    for signal, receiver in RECEIVERS:
        signal.connect(receiver)
    yield
    for (signal, receiver), was in zip(RECEIVERS, before):
        if not was:
            signal.disconnect(receiver)


def test_caches_that_inherit_the_empty_close_need_no_closing():
    assert caches_close_nothing({"default": LOCMEM, "idempotency": REDIS})
    assert caches_close_nothing({"default": LOCMEM, "idempotency": DATABASE})


def test_one_cache_with_a_real_close_keeps_close_caches():
    assert not caches_close_nothing({"default": LOCMEM, "shared": MEMCACHED})


@override_settings(DEBUG=False, CACHES={"default": LOCMEM, "idempotency": REDIS})
def test_without_debug_the_two_idle_receivers_go_and_the_working_ones_stay(django_receivers):
    assert idle_receivers_disconnect() == ["close_caches", "reset_queries"]
    assert not connected(request_finished, close_caches)
    assert not connected(request_started, reset_queries)
    assert connected(request_started, close_old_connections)
    assert connected(request_finished, close_old_connections)
    assert connected(request_finished, reset_urlconf)


@override_settings(DEBUG=True, CACHES={"default": LOCMEM, "shared": MEMCACHED})
def test_with_debug_and_a_closing_cache_nothing_is_dropped(django_receivers):
    assert idle_receivers_disconnect() == []
    assert connected(request_finished, close_caches)
    assert connected(request_started, reset_queries)


def test_the_web_application_runs_without_close_caches():
    importlib.import_module("tigle_project.wsgi")  # the web process's set-up disconnects it

    assert not connected(request_finished, close_caches)
