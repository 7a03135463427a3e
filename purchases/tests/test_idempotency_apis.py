"""Idempotency-Key through the purchase API in-process, on both stores: Redis and the
database's table (REDIS_URL unset), publishing to this run's real RabbitMQ vhost."""
import uuid

import pytest
from django.test import Client

from purchases.events import DB_QUEUE
from purchases.tests.conftest import queue_depth
from purchases.tests.test_apis import GOOD_ITEMS, PATH, body, post


@pytest.fixture
def client():
    return Client()


@pytest.fixture(params=["redis", "table"])
def key_store(request, settings) -> str:
    """Where Idempotency-Keys live: Redis (REDIS_URL), or the database's table without it."""
    if request.param == "table":
        settings.CACHES = {name: cache for name, cache in settings.CACHES.items()
                           if name != "idempotency"}
    return request.param


@pytest.mark.django_db
def test_it_records_a_retried_idempotent_post_once(client, broker, key_store):
    broker.default_channel.queue_purge(DB_QUEUE)
    key = str(uuid.uuid4())
    first = post(client, HTTP_IDEMPOTENCY_KEY=key)
    again = post(client, HTTP_IDEMPOTENCY_KEY=key)
    assert first.status_code == again.status_code == 201
    assert first.json()["purchaseID"] == again.json()["purchaseID"]
    assert queue_depth(broker, DB_QUEUE) == 1
    other = post(client, HTTP_IDEMPOTENCY_KEY=key, data=body([{"ItemID": 9, "numberOfItems": 1}]))
    assert other.status_code == 422
    assert queue_depth(broker, DB_QUEUE) == 1


def keyed_count(found: str) -> float:
    from prometheus_client import REGISTRY  # one process in tests: no multiprocess folder

    return REGISTRY.get_sample_value("tigle_idempotency_keys_total", {"found": found}) or 0.0


@pytest.mark.django_db
def test_keyed_purchases_count_by_what_their_key_held(client, broker, key_store):
    from purchases.idempotency import key_claim, request_fingerprint

    before = {found: keyed_count(found) for found in ("new", "pending", "done")}
    key, failed = str(uuid.uuid4()), str(uuid.uuid4())
    assert post(client, HTTP_IDEMPOTENCY_KEY=key).status_code == 201
    assert post(client, HTTP_IDEMPOTENCY_KEY=key).status_code == 201
    # An attempt that took the key and died before its 201 leaves it pending.
    fingerprint = request_fingerprint(PATH.format(store="5", customer="5123", date="20210101"),
                                      body(GOOD_ITEMS).encode())
    with pytest.raises(RuntimeError):
        with key_claim(key=failed, fingerprint=fingerprint, purchase_id=str(uuid.uuid4())):
            raise RuntimeError("the process died")
    assert post(client, HTTP_IDEMPOTENCY_KEY=failed).status_code == 201
    assert {found: keyed_count(found) - before[found] for found in before} == {
        "new": 1, "pending": 1, "done": 1}


@pytest.mark.django_db
def test_it_answers_409_while_the_same_key_is_in_flight(client, broker, key_store):
    from purchases.idempotency import key_claim

    key = str(uuid.uuid4())
    with key_claim(key=key, fingerprint="x", purchase_id=str(uuid.uuid4())):
        response = post(client, HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 409
    assert response["Retry-After"]


@pytest.mark.django_db
def test_it_refuses_an_unusable_idempotency_key(client, broker):
    response = post(client, HTTP_IDEMPOTENCY_KEY="x" * 300)
    assert response.status_code == 400
    assert response.json()["message"].startswith("Idempotency-Key")
