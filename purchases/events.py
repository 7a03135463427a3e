"""The purchase event: the one message body every component shares. Standard library only.

The API makes it, the worker writes it, analytics counts it, the tests check it:
{"v": 1, "id": "<uuid>", "store_id": 5, "customer_id": 5123, "date": "2021-01-01",
 "items": [[123, 2], [77, 1]]}
"""
from __future__ import annotations

import datetime
import os
import uuid
from dataclasses import dataclass

VERSION = 1
TASK_NAME = "purchases.record"
EXCHANGE = "purchases"
DB_QUEUE = "purchases.db"
ANALYTICS_STREAM = "purchases.analytics"
# Messages the worker cannot read as a purchase are parked here instead of being dropped.
PARKED_QUEUE = "purchases.db.parked"
QUEUE_TYPES = ("classic", "quorum")
# The stream's arguments, declared alike by purchases/broker/topology.py and by analytics (which
# cannot import kombu's objects): the broker refuses a declaration whose arguments differ.
# Bounded retention: analytics checkpoints well within a day; the rest is for replays.
STREAM_ARGUMENTS = {
    "x-queue-type": "stream",
    "x-max-age": "7D",
    "x-max-length-bytes": 5 * 2**30,
    "x-stream-max-segment-size-bytes": 100 * 2**20,
}


def queue_type(environ=os.environ) -> str:
    """TIGLE_QUEUE_TYPE, for purchases.db and the parked queue (purchases/broker/topology.py):
    quorum replicates them across a RabbitMQ cluster's nodes.

    Every process must agree: the broker refuses a declaration whose type differs from the
    queue's, and a queue's type never changes once it exists.
    """
    value = environ.get("TIGLE_QUEUE_TYPE", "").strip().lower() or "classic"
    if value not in QUEUE_TYPES:
        raise ValueError(f"TIGLE_QUEUE_TYPE={value!r} is not one of {', '.join(QUEUE_TYPES)}")
    return value


MAX_STORE_ID = 2**31 - 1
MAX_CUSTOMER_ID = 2**63 - 1
MAX_ITEM_ID = 2**31 - 1
MAX_QUANTITY = 10**9
MAX_ITEMS = 100


class EventError(ValueError):
    """A message body that is not a valid purchase event."""


@dataclass(frozen=True, slots=True)
class PurchaseEvent:
    id: str
    store_id: int
    customer_id: int
    date: datetime.date
    items: tuple[tuple[int, int], ...]

    def to_dict(self) -> dict:
        return {
            "v": VERSION,
            "id": self.id,
            "store_id": self.store_id,
            "customer_id": self.customer_id,
            "date": self.date.isoformat(),
            "items": [[item, quantity] for item, quantity in self.items],
        }


def event_new(
    *, store_id: int, customer_id: int, date: datetime.date, items: list[tuple[int, int]],
    purchase_id: str | None = None,
) -> PurchaseEvent:
    return PurchaseEvent(
        id=purchase_id or str(uuid.uuid4()),
        store_id=store_id,
        customer_id=customer_id,
        date=date,
        items=tuple(items),
    )


def _bounded_int(value: object, low: int, high: int, what: str) -> int:
    # bool is an int subclass; True must not pass for 1.
    if type(value) is not int or not low <= value <= high:
        raise EventError(f"{what} must be an integer in {low}..{high}, got {value!r}")
    return value


def event_from_dict(data: object) -> PurchaseEvent:
    """Check a decoded message body strictly; a worker must never write half a purchase."""
    if not isinstance(data, dict):
        raise EventError(f"event must be an object, got {type(data).__name__}")
    if data.get("v") != VERSION:
        raise EventError(f"unsupported event version {data.get('v')!r}")
    try:
        purchase_id = str(uuid.UUID(str(data["id"])))
        date = datetime.date.fromisoformat(str(data["date"]))
        raw_items = data["items"]
    except (KeyError, ValueError) as exc:
        raise EventError(f"bad event: {exc!r}") from None
    if not isinstance(raw_items, list) or not 1 <= len(raw_items) <= MAX_ITEMS:
        raise EventError("items must be a list of 1..100 [item_id, quantity] pairs")
    items = []
    for pair in raw_items:
        if not isinstance(pair, list) or len(pair) != 2:
            raise EventError(f"item {pair!r} is not an [item_id, quantity] pair")
        items.append(
            (
                _bounded_int(pair[0], 1, MAX_ITEM_ID, "item_id"),
                _bounded_int(pair[1], 1, MAX_QUANTITY, "quantity"),
            )
        )
    return PurchaseEvent(
        id=purchase_id,
        store_id=_bounded_int(data.get("store_id"), 1, MAX_STORE_ID, "store_id"),
        customer_id=_bounded_int(data.get("customer_id"), 0, MAX_CUSTOMER_ID, "customer_id"),
        date=date,
        items=tuple(items),
    )
