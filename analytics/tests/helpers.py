"""Shared by the analytics tests that run real processes."""
from analytics import client
from analytics.tests import brute
from purchases.tests.helpers import database_purchases


def accepted(sent) -> list:
    return [(one.store_id, one.items) for one in sent if one.status == 201]


def assert_counts_match(address: str, purchases: list) -> None:
    """Stats, TopItems and TopStores of one replica equal brute force over these purchases."""
    totals = brute.counts(purchases)
    stats = client.stats(address)
    assert (stats["purchases"], stats["units"]) == (len(purchases), sum(totals.values()))
    assert stats["stores"] == len({s for s, _ in totals})
    for store_id in {s for s, _ in totals}:
        assert client.top_items(address, store_id) == brute.top_items(totals, store_id, 10)
    for item_id in sorted({i for _, i in totals})[:200]:
        assert client.top_stores(address, item_id) == brute.top_stores(totals, item_id, 5)


def counted(address: str) -> int:
    try:
        return client.stats(address)["purchases"]
    except Exception:  # restarting
        return -1


def database_counts(stack) -> list:
    return [(row.store_id, row.items) for row in database_purchases(stack.database_url).values()]


def stream_publish(url: str, count: int) -> list[bytes]:
    """Purchases through the fanout of a RabbitMQ vhost, as the API publishes them; their
    bodies, in the stream's order."""
    from kombu import Connection, Producer

    from analytics.tests.test_consumer import task_body
    from purchases.broker.topology import topology_declare

    bodies = [task_body(1 + n % 7, [(n + 1, 1)]) for n in range(count)]
    with Connection(url) as connection:
        topology_declare(connection)
        producer = Producer(connection.default_channel)
        for body in bodies:
            producer.publish(body, exchange="purchases", routing_key="purchases.db",
                             content_type="application/json", content_encoding="utf-8")
    return bodies
