"""The stream through py-amqp on a real RabbitMQ: the topology purchases/broker/topology.py declares,
broker URLs read as kombu reads them, deliveries from an offset, and the stream's tail."""
import json
import socket
import time

import pytest
from kombu import Connection

from analytics.broker import (
    REPLY_SECONDS,
    StreamSource,
    broker_connect,
    node_options,
    stream_tail,
    topology_declare,
)
from analytics.tests.helpers import stream_publish
from purchases.broker import topology
from purchases.events import ANALYTICS_STREAM, EXCHANGE
from purchases.tests.conftest import proxied
from purchases.tests.proxy import FaultProxy
from loadtest.service_admin import rabbitmqctl


def listed(vhost: str, what: str, columns: str) -> list[dict]:
    result = rabbitmqctl(f"list_{what}", "-p", vhost, *columns.split(), "--formatter", "json")
    return json.loads(result.stdout)


def stream_topology(vhost: str) -> dict:
    """The exchange, the stream and the stream's bindings, as the broker holds them."""
    return {
        "exchange": [e for e in listed(vhost, "exchanges", "name type durable auto_delete "
                                       "internal arguments") if e["name"] == EXCHANGE],
        "stream": [q for q in listed(vhost, "queues", "name durable auto_delete arguments")
                   if q["name"] == ANALYTICS_STREAM],
        "bindings": [b for b in listed(vhost, "bindings", "source_name destination_name "
                                       "routing_key arguments")
                     if b["destination_name"] == ANALYTICS_STREAM],
    }


def test_it_declares_exactly_what_purchases_topology_declares(vhost_new):
    (ours_url, ours), (theirs_url, theirs) = vhost_new(), vhost_new()
    connection = broker_connect(ours_url)
    topology_declare(connection.channel())
    with Connection(theirs_url) as kombu_connection:
        topology.topology_declare(kombu_connection)
    declared = stream_topology(ours)
    assert declared == stream_topology(theirs)
    assert declared["stream"][0]["arguments"] and len(declared["bindings"]) == 2  # and ""
    # Each side accepts the other's declarations: the broker finds them equivalent.
    with Connection(ours_url) as kombu_connection:
        topology.topology_declare(kombu_connection)
    topology_declare(connection.channel())
    connection.collect()
    other = broker_connect(theirs_url)
    topology_declare(other.channel())
    other.collect()


@pytest.mark.parametrize("url", [
    "amqp://guest:guest@127.0.0.1:5672//",
    "amqp://guest:guest@127.0.0.1:5672/",
    "amqp://guest:guest@127.0.0.1:5672",
    "amqp://u%40x:p%2Fw@mq.example:5673/tigle-%2F-test",
    "pyamqp://a:b@mq.example/prod",
    "amqps://a:b@mq.example//",
    "amqp://a:b@[::1]:5672//",
])
def test_it_reads_a_broker_url_as_kombu_does(url):
    ours = node_options(url)
    kombu = Connection(url).info()
    host = kombu["hostname"]
    assert ours["host"] == f"{f'[{host}]' if ':' in host else host}:{kombu['port']}"
    assert (ours["userid"], ours["password"], ours["virtual_host"], ours["ssl"]) == (
        kombu["userid"], kombu["password"], kombu["virtual_host"], kombu["ssl"])


def test_it_reads_from_an_offset_and_acks_for_more_than_its_prefetch(vhost_new):
    url, _ = vhost_new()
    bodies = stream_publish(url, 60)
    got = []
    source = StreamSource(url, lambda body, offset: got.append((offset, body)), prefetch=10)
    try:
        source.attach(5)
        while len(got) < 55:
            try:
                source.drain(2.0)
            except socket.timeout:
                raise AssertionError(f"stalled after {len(got)} deliveries") from None
            if len(got) % 10 == 0:
                source.ack()  # without it the prefetch of 10 would stop the deliveries
    finally:
        source.close()
    assert got == list(enumerate(bodies))[5:]
    assert stream_tail(url) == 59


def test_the_tail_of_an_empty_stream_is_none(vhost_new):
    url, _ = vhost_new()
    connection = broker_connect(url)
    topology_declare(connection.channel())
    connection.collect()
    assert stream_tail(url) is None


def test_it_tries_each_node_of_a_list_until_one_answers(vhost_new):
    url, _ = vhost_new()
    closed = socket.create_server(("127.0.0.1", 0))
    dead = f"amqp://guest:guest@127.0.0.1:{closed.getsockname()[1]}//"
    closed.close()
    connection = broker_connect(f"{dead};{url}")
    assert connection.connected
    connection.collect()
    with pytest.raises(OSError):
        broker_connect(dead)


def test_a_broker_gone_silent_is_a_broker_error_not_a_hang(vhost_new):
    url, _ = vhost_new()
    proxy = FaultProxy.to(url)
    try:
        connection = broker_connect(proxied(url, proxy))
        proxy.hold()
        started = time.monotonic()
        with pytest.raises(socket.timeout):
            topology_declare(connection.channel())
        assert time.monotonic() - started < REPLY_SECONDS + 5
        connection.collect()
    finally:
        proxy.close()
