"""Reading a purchase out of a task message: plain JSON fast, anything else by kombu's rules."""
from __future__ import annotations

import datetime
import json
import pickle

import pytest
from kombu import compression
from kombu.message import Message

from purchases.events import TASK_NAME, EventError, event_new
from purchases.broker.task_messages import event_from_message

EVENT = event_new(store_id=5, customer_id=5123, date=datetime.date(2021, 1, 1),
                  items=[(123, 2), (77, 1)])
BODY = [[EVENT.to_dict()], {}, {"callbacks": None, "errbacks": None, "chain": None,
                                "chord": None}]


def message(body: bytes, content_type: str, **headers: str) -> Message:
    return Message(body=body, content_type=content_type, content_encoding="utf-8",
                   headers={"task": TASK_NAME, **headers}, accept={"application/json"})


def test_a_json_task_message_gives_its_event():
    assert event_from_message(message(json.dumps(BODY).encode(), "application/json")) == EVENT


def test_a_compressed_json_body_is_decompressed_by_kombu():
    body, kind = compression.compress(json.dumps(BODY).encode(), "zlib")
    assert event_from_message(message(body, "application/json", compression=kind)) == EVENT


def test_a_content_type_the_worker_does_not_accept_is_never_decoded():
    with pytest.raises(EventError, match="undecodable"):
        event_from_message(message(pickle.dumps(BODY), "application/x-python-serialize"))


def test_a_body_that_is_not_json_is_not_a_purchase():
    with pytest.raises(EventError, match="undecodable"):
        event_from_message(message(b"{not json", "application/json"))
