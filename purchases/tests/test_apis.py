"""The purchase API in-process, publishing to this run's real RabbitMQ vhost."""
import json

import pytest
from django.conf import settings
from django.test import Client, override_settings

from purchases.events import DB_QUEUE, TASK_NAME
from purchases.models import Purchase
from purchases.tests.conftest import queue_depth
from purchases.tests.helpers import stream_event_ids

PATH = "/purchase/{store}/customer/{customer}/date/{date}"
GOOD_ITEMS = [{"ItemID": "123", "numberOfItems": 2}]


def body(items):
    return json.dumps({"items": items})


def post(client, store="5", customer="5123", date="20210101", data=body(GOOD_ITEMS), **extra):
    url = PATH.format(store=store, customer=customer, date=date)
    if data is None:  # no body at all
        return client.post(url, content_type="application/json", **extra)
    return client.post(url, data=data, content_type="application/json", **extra)


BAD_PATHS = [
    {"store": "0"}, {"store": "-1"}, {"store": "abc"}, {"store": "1" * 25},
    {"customer": "-1"}, {"customer": "x"},
    {"date": "20210230"}, {"date": "2021-01-01"}, {"date": "2021011"}, {"date": "abcdefgh"},
]
BAD_BODIES = [
    None, "", "{not json", "[1, 2]", body([]), json.dumps({"items": "x"}),
    body([{"ItemID": "0", "numberOfItems": 1}]),
    body([{"ItemID": "-5", "numberOfItems": 1}]),
    body([{"ItemID": "abc", "numberOfItems": 1}]),
    body([{"ItemID": None, "numberOfItems": 1}]),
    body([{"numberOfItems": 1}]),
    body([{"ItemID": "1", "numberOfItems": 0}]),
    body([{"ItemID": "1", "numberOfItems": -1}]),
    body([{"ItemID": "1", "numberOfItems": 1.5}]),
    body([{"ItemID": "1"}]),
    body([{"ItemID": "1", "numberOfItems": 10**9 + 1}]),
    body([{"ItemID": str(i), "numberOfItems": 1} for i in range(1, 102)]),
]
FIELD_OF_PATH = {"store": "storeID", "customer": "custID", "date": "date"}


@pytest.fixture
def client():
    return Client()


@pytest.mark.django_db
@pytest.mark.parametrize("bad", BAD_PATHS, ids=lambda b: "=".join(*b.items()))
def test_it_refuses_a_bad_path_naming_the_field(client, broker, bad):
    before = queue_depth(broker, DB_QUEUE)
    response = post(client, **bad)
    assert response.status_code == 400
    (field,) = bad
    assert response.json()["message"].startswith(FIELD_OF_PATH[field] + ":")
    assert queue_depth(broker, DB_QUEUE) == before
    assert not Purchase.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("data", BAD_BODIES, ids=lambda d: "missing" if d is None else d[:40])
def test_it_refuses_a_bad_body_with_a_message(client, broker, data):
    before = queue_depth(broker, DB_QUEUE)
    response = post(client, data=data)
    assert response.status_code == 400, response.content
    message = response.json()["message"]
    assert message.split(":")[0] in ("body", "items", "items[0].ItemID", "items[0].numberOfItems")
    assert queue_depth(broker, DB_QUEUE) == before
    assert not Purchase.objects.exists()


@pytest.mark.django_db
def test_it_answers_413_above_64_kib(client, broker):
    before = queue_depth(broker, DB_QUEUE)
    padding = " " * (65 * 1024)
    response = post(client, data=body(GOOD_ITEMS) + padding)
    assert response.status_code == 413
    assert "body" in response.json()["message"]
    assert queue_depth(broker, DB_QUEUE) == before


def test_the_servers_address_says_where_things_are_and_each_link_answers(admin_client):
    links = admin_client.get("/").json()["links"]
    assert links["API docs"] == "/api/docs/" and links["health"] == "/healthz"
    for path in links.values():
        assert admin_client.get(path).status_code in (200, 503), path  # 503: health, no analytics
    refused = admin_client.post("/")
    assert refused.status_code == 405 and refused.json()["message"] == "method POST not allowed"


def test_it_answers_unknown_paths_and_wrong_methods_in_json(client):
    missing = client.get("/nothing/here")
    assert missing.status_code == 404 and "message" in missing.json()
    wrong = client.get(PATH.format(store=5, customer=5123, date="20210101"))
    assert wrong.status_code == 405 and "GET" in wrong.json()["message"]


@pytest.mark.django_db
def test_it_publishes_one_celery_task_message_per_purchase(client, broker):
    broker.default_channel.queue_purge(DB_QUEUE)
    items = [{"ItemID": "123", "numberOfItems:": 2}, {"ItemID": 77, "numberOfItems": 1}]
    response = post(client, store="5", customer="5123", data=body(items))
    assert response.status_code == 201
    purchase_id = response.json()["purchaseID"]
    from purchases.broker.topology import db_queue

    message = db_queue(broker.default_channel).get(no_ack=True)
    assert message.headers["task"] == TASK_NAME
    assert message.properties["delivery_mode"] == 2
    args, kwargs, _ = message.decode()
    assert args == [
        {"v": 1, "id": purchase_id, "store_id": 5, "customer_id": 5123,
         "date": "2021-01-01", "items": [[123, 2], [77, 1]]}
    ]
    # The same publish reached the analytics stream through the fanout.
    assert purchase_id in stream_event_ids(settings.CELERY_BROKER_URL, idle_seconds=1)


def test_it_serves_the_openapi_schema_and_docs(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/purchase/{storeID}/customer/{custID}/date/{date}" in paths
    assert client.get("/api/docs/").status_code == 200


@pytest.mark.django_db
def test_it_answers_503_when_no_queue_would_receive_the_purchase(client, broker):
    from purchases.broker import publishing as publisher
    from purchases.broker.topology import analytics_stream, db_queue

    publisher.broker_check()  # connected and declared before the bindings go
    channel = broker.default_channel
    bound = [db_queue(channel), analytics_stream(channel)]
    for queue in bound:
        queue.unbind_from(exchange=queue.exchange, routing_key=queue.routing_key)
    try:
        response = post(client)
    finally:
        for queue in bound:
            queue.bind_to(exchange=queue.exchange, routing_key=queue.routing_key)
    assert response.status_code == 503 and response["Retry-After"]
    assert post(client).status_code == 201


@pytest.mark.django_db
def test_it_publishes_on_a_confirm_mode_channel_when_durable(client, broker):
    from purchases.broker import publishing as publisher
    from purchases.broker.publisher import ConfirmingPublisher

    assert post(client).status_code == 201
    assert isinstance(publisher.publisher(), ConfirmingPublisher)


@pytest.mark.django_db
def test_it_publishes_when_the_broker_socket_is_past_descriptor_1024(client, broker):
    """A busy web process holds many client sockets; the publisher must not rely on select()."""
    import os
    import resource

    from purchases.broker import publishing as publisher

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip(f"the descriptor limit ({hard}) is too low")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    publisher.publisher_drop()  # frees its descriptor before the holes are filled
    # Descriptors are handed out lowest first: fill every hole below 1030.
    filler = [os.open(os.devnull, os.O_RDONLY)]
    while filler[-1] < 1030:
        filler.append(os.open(os.devnull, os.O_RDONLY))
    try:
        assert post(client).status_code == 201
        assert publisher.publisher().connection.connection.sock.fileno() > 1024
        assert post(client).status_code == 201
    finally:
        publisher.publisher_drop()
        for fd in filler:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.django_db
def test_the_bench_ceiling_answers_201_and_records_nothing(client, broker):
    before = queue_depth(broker, DB_QUEUE)
    with override_settings(TIGLE_BENCH_CEILING=True):
        response = post(client, data=BAD_BODIES[1])
    assert response.status_code == 201
    assert queue_depth(broker, DB_QUEUE) == before
    assert not Purchase.objects.exists()
