"""The web's task message leaves out optional protocol-2 headers at their defaults, and a
Celery worker reads it exactly as it reads the message Celery itself would send."""
from __future__ import annotations

import datetime

from celery.worker.request import Request
from kombu.message import Message

from purchases.events import TASK_NAME, event_new
from purchases.broker.publishing import ABSENT_MEANS, task_message
from purchases.tasks import record
from tigle_project.celery_app import app

EVENT = event_new(store_id=5, customer_id=5123, date=datetime.date(2021, 1, 1),
                  items=[(123, 2), (77, 1)])
# What Celery reads from a task's headers: the worker's request and the task's context.
READ = ["id", "name", "root_id", "parent_id", "group", "group_index", "time_limits", "eta",
        "expires", "argsrepr", "kwargsrepr", "stamped_headers", "stamps",
        "replaced_task_nesting", "ignore_result"]


def celery_request(body: bytes, headers: dict, properties: dict) -> Request:
    message = Message(body=body, content_type="application/json", content_encoding="utf-8",
                      headers=headers, properties=properties, accept={"application/json"},
                      delivery_info={"exchange": "purchases", "routing_key": "purchases.db"})
    return Request(message, app=app, task=record)


def test_required_headers_stay_and_defaulted_optional_ones_go():
    _, headers, _ = task_message(EVENT)
    assert {"lang", "task", "id", "root_id", "parent_id", "group"} <= set(headers)
    assert headers["task"] == TASK_NAME and headers["id"] == EVENT.id
    assert not set(ABSENT_MEANS) & set(headers)


def test_celery_defaults_are_what_the_left_out_headers_held():
    full = app.amqp.as_task_v2(EVENT.id, TASK_NAME, args=(EVENT.to_dict(),)).headers
    assert {name: full[name] for name in ABSENT_MEANS} == ABSENT_MEANS


def test_a_celery_worker_reads_it_as_the_message_celery_sends():
    body, headers, properties = task_message(EVENT)
    full = app.amqp.as_task_v2(
        EVENT.id, TASK_NAME, args=(EVENT.to_dict(),), argsrepr=headers["argsrepr"],
        kwargsrepr=headers["kwargsrepr"]).headers
    ours, celerys = celery_request(body, headers, properties), celery_request(body, full, properties)
    assert {name: getattr(ours, name) for name in READ} == \
        {name: getattr(celerys, name) for name in READ} | {
            # Request's class default is a tuple; from the wire it is the header's list.
            "time_limits": tuple(celerys.time_limits)}
    assert (ours.args, ours.kwargs) == (celerys.args, celerys.kwargs) == ([EVENT.to_dict()], {})
    # The task's context (self.request) starts from these; an absent retries is Context's 0.
    assert ours.request_dict.get("retries", 0) == celerys.request_dict["retries"] == 0
