"""Celery's worker consumer without native delayed delivery.

With a quorum queue in task_queues, Celery 5.5+ binds each queue's exchange to its delay
exchanges. Ours is the fanout `purchases`: a delayed task would come back through it and
analytics would count the purchase twice. Nothing in Tigle delays a task (retries go straight
to purchases.db), so the step is left out.
"""
from __future__ import annotations

from celery.worker.consumer import Consumer as CeleryConsumer


class Consumer(CeleryConsumer):
    class Blueprint(CeleryConsumer.Blueprint):
        default_steps = [
            step for step in CeleryConsumer.Blueprint.default_steps
            if not step.endswith(":DelayedDelivery")
        ]
