"""The embedded broker's folder read without kombu, against what kombu itself writes there."""
import importlib.metadata
import json

import pytest
from kombu import Connection, Producer

from analytics.kombu_compat import KOMBU_VERSION, FolderQueue, queue_bind
from analytics.tests.test_consumer import task_body
from purchases.broker.filesystem_broker import Transport
from purchases.broker.topology import topology_declare


def test_it_was_written_for_the_installed_kombu():
    # On another version, check kombu/transport/filesystem.py's layout, then move the pin.
    assert importlib.metadata.version("kombu") == KOMBU_VERSION


def kombu_connection(folder) -> Connection:
    """The web's connection to the embedded broker."""
    return Connection("filesystem://", transport=Transport, transport_options={
        "data_folder_in": str(folder / "queue"), "data_folder_out": str(folder / "queue"),
        "control_folder": str(folder / "control")})


def publish(connection: Connection, bodies: list[bytes]) -> None:
    producer = Producer(connection.default_channel)
    for body in bodies:
        producer.publish(body, exchange="purchases", routing_key="purchases.db",
                         content_type="application/json", content_encoding="utf-8")


def drained(queue: FolderQueue) -> None:
    try:
        queue.drain(0.01)
    except TimeoutError:
        pass


def test_it_reads_what_kombus_fanout_puts_in_its_queue(tmp_path):
    got = []
    with kombu_connection(tmp_path) as connection:
        (tmp_path / "queue").mkdir()
        topology_declare(connection)  # the web's bindings first
        queue = FolderQueue(tmp_path, lambda body, offset: got.append((offset, body)), limit=3)
        bodies = [task_body(2, [(n, 1)]) for n in range(1, 6)]
        publish(connection, bodies)
        drained(queue)
        assert len(got) == 3  # at most the limit at a time
        drained(queue)
        # In the order of their names' milliseconds; within one, in any order.
        assert sorted(got) == sorted((None, body) for body in bodies)
        with pytest.raises(TimeoutError):
            queue.drain(0.01)
        # The database queue keeps its own copies.
        assert len(list((tmp_path / "queue").glob("*.purchases.db.msg"))) == 5


def test_its_binding_joins_kombus_and_is_made_once(tmp_path):
    with kombu_connection(tmp_path) as connection:
        (tmp_path / "queue").mkdir()
        topology_declare(connection)
        for _ in range(2):
            queue_bind(tmp_path / "control", "purchases", "purchases.analytics",
                       "purchases.analytics")
        topology_declare(connection)
    table = json.loads((tmp_path / "control" / "purchases.exchange").read_text())
    assert sorted(map(tuple, table)) == [("purchases.analytics", "", "purchases.analytics"),
                                         ("purchases.db", "", "purchases.db")]


def test_a_file_that_is_no_kombu_message_reaches_the_consumer_as_it_is(tmp_path):
    got = []
    queue = FolderQueue(tmp_path, lambda body, offset: got.append(body), limit=10)
    (tmp_path / "queue" / "1_x.purchases.analytics.msg").write_bytes(b"{not json")
    (tmp_path / "queue" / ".part-1").write_bytes(b"half written")  # the web's, being written
    drained(queue)
    assert got == [b"{not json"]  # the consumer skips it at its offset, with a warning
    assert [p.name for p in (tmp_path / "queue").iterdir()] == [".part-1"]
