"""An API request leaves no reference cycle behind: its objects go by reference counting, not
by the cyclic garbage collector (tigle_project/heap.py)."""
import gc

import pytest
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.test import override_settings
from django.views import View
from rest_framework.request import Request

from purchases.tests.test_apis import GOOD_ITEMS, PATH, body
from tigle_project.tests.test_wsgi import call


@pytest.fixture
def cyclic_garbage():
    """What the cyclic garbage collector finds unreachable while the test runs."""
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)  # keeps what it would free in gc.garbage

    def found() -> list:
        gc.collect()
        return list(gc.garbage)

    try:
        yield found
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


@pytest.mark.django_db
@pytest.mark.parametrize("method, path, data, status", [
    ("POST", PATH.format(store=5, customer=5123, date="20210101"), body(GOOD_ITEMS), 201),
    ("POST", PATH.format(store=5, customer=5123, date="20210101"), "{not json", 400),
    ("GET", "/healthz", "", 200),
    ("GET", "/items/store/5", "", 503),  # no analytics in this test
], ids=["201", "400", "health", "query"])
def test_a_request_leaves_nothing_for_the_cyclic_garbage_collector(broker, cyclic_garbage,
                                                                   method, path, data, status):
    # In the web process the collector's walks over such leftovers cost ~8% of its CPU
    # (tigle_project/heap.py); freed by reference counting, they cost nothing more.
    with override_settings(ANALYTICS_ADDRESS=["127.0.0.1:1"], TIGLE_ANALYTICS_TIMEOUT=0.2):
        assert call(method, path, data.encode())[0] == status
    left = [type(o).__name__ for o in cyclic_garbage()
            if isinstance(o, (HttpRequest, HttpResponseBase, Request, View))]
    assert left == []
