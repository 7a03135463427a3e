"""The worker's Celery consumer: what it cannot run is parked, not dropped.

Celery's own consumer acks a message whose body it cannot decode, and rejects one that
names no task, a task this worker does not have, or a malformed one; purchases.db has no
dead-letter exchange, so either way the message is gone but for a log line. Here each is
parked like a purchase the worker cannot read (task_messages.message_park), for
`manage.py parked` to show. These are the consumer's public methods for such messages, and
Celery's documented `worker_consumer` setting names this class.
"""
from __future__ import annotations

from celery.worker.consumer import Consumer
from kombu.message import Message

from purchases.broker.task_messages import message_park
from purchases.events import TASK_NAME


class ParkingConsumer(Consumer):
    def on_decode_error(self, message: Message, exc: Exception) -> None:
        task_consumer = getattr(self, "task_consumer", None)
        if task_consumer is None or message.channel is not task_consumer.channel:
            # Celery hands this to its remote-control consumer too: not purchases.db's.
            super().on_decode_error(message, exc)
            return
        self._park(message, f"body not decodable as {message.content_type or 'no type'}: {exc!r}")

    def on_unknown_message(self, body: object, message: Message) -> None:
        self._park(message, "not a task message: it names no task")

    def on_unknown_task(self, body: object, message: Message, exc: Exception) -> None:
        self._park(message, f"names a task this worker does not run: {exc!r}")

    def on_invalid_task(self, body: object, message: Message, exc: Exception) -> None:
        self._park(message, f"a malformed task message: {exc!r}")

    def update_strategies(self) -> None:
        super().update_strategies()
        # Purchases only: a message naming one of Celery's own tasks (celery.backend_cleanup,
        # say) would run in the pool, and its ack leave a gap in the batcher's count of
        # settled deliveries. It is parked as any other task's name is.
        for name in [name for name in self.strategies if name != TASK_NAME]:
            del self.strategies[name]

    def _park(self, message: Message, reason: str) -> None:
        # Through the purchases' batcher: it keeps parks from nesting, and its count of
        # settled deliveries right for the acks of whole batches.
        batcher = getattr(self.app.tasks.get(TASK_NAME), "batcher", None)
        if batcher is None:
            message_park(message, reason)
        else:
            batcher.park(message, reason)
