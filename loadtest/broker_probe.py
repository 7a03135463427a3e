"""RabbitMQ's CPU per purchase message, by how many messages each socket write carries.

    python -m loadtest.broker_probe [--rate 1000] [--bursts 1,2,4,8] [--seconds 15]

Publishes the web's own task messages (persistent, confirm mode) into the purchases fanout
at --rate messages/s, --burst of them per socket write, while a queue consumer and a stream
consumer take them as the worker and analytics do (prefetch 1,000, one multiple ack per 100).
Prints the broker's CPU per message for each burst size: what the web's write gathering
(purchases/confirm_pipeline.py) is for. A vhost of its own, deleted after each size.
"""
from __future__ import annotations

import argparse
import datetime
import os
import threading
import time
import urllib.parse

import amqp
from amqp import spec
from amqp.method_framing import frame_writer
from amqp.serialization import dumps
from kombu import Connection

from loadtest.bench_probes import AMQP, vhost_delete, vhost_reset
from loadtest.cpu import named_cpu
from purchases.amqp_publish_frames import FrameList
from purchases.events import ANALYTICS_STREAM, DB_QUEUE, EXCHANGE, event_new

VHOST = "tigle-broker-probe"
ACK_EVERY = 100


def _connect(vhost: str) -> amqp.Connection:
    parts = urllib.parse.urlsplit(AMQP)
    connection = amqp.Connection(f"{parts.hostname}:{parts.port or 5672}",
                                 userid=parts.username or "guest",
                                 password=parts.password or "guest", virtual_host=vhost)
    connection.connect()
    return connection


def _consume(vhost: str, queue: str, arguments: dict | None, stop: threading.Event,
             counts: dict[str, int]) -> None:
    connection = _connect(vhost)
    channel = connection.channel()
    channel.basic_qos(0, 1000, False)
    seen, unacked = 0, None

    def on_message(message: amqp.Message) -> None:
        nonlocal seen, unacked
        seen, unacked = seen + 1, message.delivery_tag
        if seen % ACK_EVERY == 0:
            channel.basic_ack(unacked, multiple=True)
            unacked = None

    channel.basic_consume(queue, callback=on_message, arguments=arguments)
    while not stop.is_set():
        try:
            connection.drain_events(timeout=0.05)
        except TimeoutError:
            if unacked is not None:
                channel.basic_ack(unacked, multiple=True)
                unacked = None
    counts[queue] = seen
    connection.close()


def burst_run(rate: float, burst: int, seconds: float, vhost: str = VHOST) -> dict:
    from purchases.publisher import task_message
    from purchases.topology import topology_declare

    vhost_reset(vhost)
    try:
        with Connection(f"{AMQP}/{vhost}") as connection:
            topology_declare(connection)

        stop, counts = threading.Event(), {}
        consumers = [threading.Thread(target=_consume,
                                      args=(vhost, queue, arguments, stop, counts))
                     for queue, arguments in ((DB_QUEUE, None),
                                              (ANALYTICS_STREAM, {"x-stream-offset": "next"}))]
        for consumer in consumers:
            consumer.start()
        time.sleep(1)  # both attached before the first message
        publisher = _connect(vhost)
        channel = publisher.channel()
        channel.confirm_select()
        arguments = dumps("Bssbb", (0, EXCHANGE, DB_QUEUE, False, False))
        frames = FrameList()
        # py-amqp's frame writer, pointed at a list: each burst goes out in one write.
        writer = frame_writer(publisher, frames)
        sent, started = 0, time.monotonic()
        broker_before = named_cpu("beam.smp")
        next_write = started
        while time.monotonic() - started < seconds:
            for _ in range(burst):
                event = event_new(store_id=5, customer_id=5123, date=datetime.date.today(),
                                  items=[(item, 1) for item in range(1, 6)])
                body, headers, properties = task_message(event)
                writer(1, channel.channel_id, spec.Basic.Publish, arguments,
                       amqp.Message(body, application_headers=headers, **properties))
            publisher.transport.write(b"".join(frames.frames))
            frames.frames = []
            sent += burst
            try:
                publisher.drain_events(timeout=0)  # the confirms
            except TimeoutError:
                pass
            next_write += burst / rate
            time.sleep(max(0.0, next_write - time.monotonic()))
        time.sleep(1)  # the consumers take the last ones
        broker = named_cpu("beam.smp") - broker_before
        stop.set()
        for consumer in consumers:
            consumer.join(10)
        publisher.close()
        return {"rate": rate, "burst": burst, "sent": sent, "consumed": counts,
                "broker_ms_per_message": round(1000 * broker / sent, 3)}
    finally:
        vhost_delete(vhost)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.broker_probe", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=1000.0, help="messages per second")
    parser.add_argument("--bursts", default="1,2,4,8", help="messages per write, one run each")
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tigle_project.settings")
    import django

    django.setup()
    for burst in (int(b) for b in args.bursts.split(",")):
        result = burst_run(args.rate, burst, args.seconds)
        print(f"{burst} per write: RabbitMQ {result['broker_ms_per_message']} ms of CPU per "
              f"message ({result['sent']} sent, consumed {result['consumed']})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
