"""`manage.py broker_declare`: the exchange, queues and stream of DESIGN.md, declared once.

Deployments run it before any process starts, so that queue arguments (quorum, the stream's
retention) come from the same code every process declares with, and the bindings exist
before the first purchase is published.
"""
from __future__ import annotations

from django.core.management.base import BaseCommand
from kombu import Connection

from purchases.broker.topology import (
    analytics_stream,
    connect_any_node,
    db_queue,
    is_amqp,
    parked_queue,
    purchases_exchange,
    topology_declare,
)
from tigle_project.celery_app import app


def _missing(connection: Connection) -> list[str]:
    """What the broker does not have yet; a passive declare of a missing name closes its channel."""
    missing = []
    for entity in (purchases_exchange, db_queue, parked_queue, analytics_stream):
        channel = connection.channel()
        try:
            if entity is purchases_exchange:
                channel.exchange_declare(entity.name, entity.type, passive=True)
            else:
                channel.queue_declare(entity.name, passive=True)
        except connection.channel_errors:
            missing.append(entity.name)
        else:
            channel.close()
    return missing


class Command(BaseCommand):
    help = "Declare the purchases exchange, purchases.db, the parked queue and the stream."

    def handle(self, *args: object, **options: object) -> None:
        with app.connection_for_write() as connection:
            connect_any_node(connection)
            missing = _missing(connection) if is_amqp(connection) else ["(embedded broker)"]
            topology_declare(connection)
        if missing:
            self.stdout.write(f"declared: {', '.join(missing)}")
        else:
            self.stdout.write("up to date")
