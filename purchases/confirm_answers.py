"""The open publishes of a confirm-mode channel, by delivery tag, and answering them.

A publish is answered once: by the broker's ack, its nack, or a return before the ack (no
queue took it), or by the pipeline failing every open one (purchases/confirm_pipeline.py).
Answering wakes the request thread waiting on it, or settles the Confirmation it holds.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import amqp

from tigle_project.answer_later import Confirmation


@dataclass(eq=False)
class Waiter:
    """One open publish: a request thread waiting on done, or a confirmation to settle."""

    timeout: float
    deadline: float
    done: threading.Event | None = None
    error: str | None = None
    confirmation: Confirmation | None = None


class ConfirmAnswers:
    """A channel's open publishes, answered as the broker acks, nacks or returns them."""

    def __init__(self) -> None:
        self._waiters: dict[int, Waiter] = {}
        self._lowest_open = 1  # below it every tag is answered; only the reader moves it

    def _answer(self, tag: int, error: str | None) -> None:
        waiter = self._waiters.pop(tag, None)
        if waiter is not None:
            if error is not None and waiter.error is None:
                waiter.error = error
            if waiter.confirmation is not None:
                waiter.confirmation.settle(waiter.error)
            else:
                waiter.done.set()

    def _answer_up_to(self, tag: int, multiple: bool, error: str | None) -> None:
        if not multiple:
            self._answer(tag, error)
            return
        first, self._lowest_open = self._lowest_open, max(self._lowest_open, tag + 1)
        for answered in range(first, tag + 1):
            self._answer(answered, error)

    def _on_ack(self, tag: int, multiple: bool) -> None:
        self._answer_up_to(tag, multiple, None)

    def _on_nack(self, tag: int, multiple: bool) -> None:
        self._answer_up_to(tag, multiple, "the broker refused the message (nack)")

    def _on_return(self, exc: Exception, exchange: str, routing_key: str,
                   message: amqp.Message) -> None:
        # RabbitMQ sends the return before the ack of the same message.
        waiter = self._waiters.get(int(message.properties.get("message_id", 0)))
        if waiter is not None:
            waiter.error = f"no queue took it: {exc}"
