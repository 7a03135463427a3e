"""The stream reader applies a steady trickle within FLUSH_SECONDS, not in steps of a batch
(a real RabbitMQ stream; the trickle never leaves it idle long enough for an idle flush)."""
import threading
import time

from kombu import Connection, Producer

from analytics.config import Config
from analytics.consumer import Consumer
from analytics.state import State
from analytics.stream import FLUSH_SECONDS, IDLE_SECONDS, StreamReader
from analytics.tests.test_consumer import task_body
from purchases.broker.topology import topology_declare

TRICKLE_SECONDS = 3.0


def test_a_steady_trickle_is_counted_while_it_flows(tmp_path, vhost_new):
    url, _ = vhost_new()
    config = Config(listen="127.0.0.1:0", state_dir=tmp_path / "state", broker_url=url,
                    broker_folder=None, database_url="", checkpoint_seconds=3600.0, threads=1,
                    max_rpcs=1, batch_size=10_000)
    consumer, stop, flowing = Consumer(State()), threading.Event(), threading.Event()
    applied_while_flowing = []

    def trickle() -> None:
        with Connection(url) as connection:
            topology_declare(connection)
            producer = Producer(connection.default_channel)
            flowing.set()
            ends = time.monotonic() + TRICKLE_SECONDS
            while time.monotonic() < ends:
                producer.publish(task_body(1, [(1, 1)]), exchange="purchases",
                                 routing_key="purchases.db", content_type="application/json",
                                 content_encoding="utf-8")
                applied_while_flowing.append(consumer.state.last_offset)
                time.sleep(IDLE_SECONDS / 5)

    publisher = threading.Thread(target=trickle)
    publisher.start()
    flowing.wait(10)
    reader = threading.Thread(target=StreamReader(config, consumer, checkpoint=lambda _: None,
                                                  stop=stop).run)
    reader.start()
    try:
        publisher.join(30)
        # Applied while the purchases still came, far below the batch size.
        assert max(applied_while_flowing) >= 0
        # And close behind: within a few flush periods of the last one published then.
        behind = len(applied_while_flowing) - 1 - max(applied_while_flowing)
        assert behind <= 5 * FLUSH_SECONDS / (IDLE_SECONDS / 5), behind
    finally:
        stop.set()
        reader.join(30)
    assert not reader.is_alive()
