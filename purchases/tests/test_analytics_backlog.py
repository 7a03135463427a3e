"""Sync mode's outbox on the run's real database and broker (a process killed before the
confirm, and the broker cut for real: test_faults.py)."""
import datetime
import json
import threading
import uuid
from collections import Counter

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings

from purchases import idempotency
from purchases.analytics_backlog import (
    FORGET_CHUNK,
    SEND_BATCH,
    backlog_confirmed,
    backlog_forget,
    backlog_keep,
    backlog_send,
    backlog_step,
)
from purchases.events import event_new
from purchases.models import AnalyticsBacklog, Purchase
from purchases.services import HandoverFailed, purchase_accept, purchases_bulk_create
from purchases.tests.helpers import kept_long_ago, stream_event_ids
from purchases.validation import purchase_parse


def _events(*stores: int):
    return [event_new(store_id=store, customer_id=store * 1000, date=datetime.date(2021, 1, 1),
                      items=[(store, 2)]) for store in stores]


@pytest.mark.django_db
@override_settings(TIGLE_WRITE_MODE="sync")
def test_it_keeps_a_sync_purchase_with_its_row_until_the_stream_has_it():
    event, = _events(6)
    backlog_forget()  # what earlier tests of this process left confirmed
    purchase_accept(event=event)
    assert Purchase.objects.filter(purchase_id=event.id).exists()
    assert list(AnalyticsBacklog.objects.values_list("purchase_id", flat=True)) == [
        Purchase.objects.get().purchase_id]
    assert backlog_forget() == 1  # the broker confirmed it
    assert not AnalyticsBacklog.objects.exists()
    assert event.id in stream_event_ids(settings.CELERY_BROKER_URL)
    purchase_accept(event=event)  # a retry writes nothing and keeps nothing
    assert (Purchase.objects.count(), AnalyticsBacklog.objects.count()) == (1, 0)


@pytest.mark.django_db
@override_settings(TIGLE_WRITE_MODE="sync")
def test_it_writes_no_purchase_it_cannot_keep_for_analytics():
    event, = _events(7)
    backlog_keep([event])  # the same id already kept: the keep fails, and so does the write
    with pytest.raises(HandoverFailed):
        purchase_accept(event=event)
    assert not Purchase.objects.filter(purchase_id=event.id).exists()


@pytest.mark.django_db
def test_it_sends_kept_purchases_past_the_grace_once_confirmed_and_forgets_them():
    events = _events(3, 4, 5)
    backlog_keep(events)
    assert backlog_send() == 0  # still its request's to publish
    assert backlog_send(limit=2, grace=0) == 2
    assert AnalyticsBacklog.objects.count() == 1
    assert backlog_send(grace=0) == 1
    assert backlog_send(grace=0) == 0
    ours = {event.id for event in events}
    assert sorted(i for i in stream_event_ids(settings.CELERY_BROKER_URL) if i in ours) == \
        sorted(ours)


@pytest.mark.django_db
def test_it_forgets_confirmed_purchases_past_a_delete_s_size():
    events = _events(*(1 + n % 50 for n in range(2 * FORGET_CHUNK + 10)))
    backlog_forget()
    backlog_keep(events)
    for event in events:
        backlog_confirmed(event.id)
    assert backlog_forget() == len(events)
    assert not AnalyticsBacklog.objects.exists()


@pytest.mark.django_db(transaction=True)
@override_settings(TIGLE_WRITE_MODE="sync")
def test_it_forgets_what_requests_confirm_while_it_sends_a_long_backlog():
    # After an outage the sender works through a long backlog while purchases keep coming and
    # being confirmed: those must be forgotten as it goes, not reach its grace and go twice.
    backlog_forget()
    left = _events(*(1 + n % 50 for n in range(20 * SEND_BATCH)))
    kept_long_ago(left)
    sending = threading.Event()
    accepted: list[str] = []

    def requests_come() -> None:
        try:
            while sending.is_set():
                event, = _events(51)
                purchase_accept(event=event)
                accepted.append(event.id)
        finally:
            connection.close()

    sending.set()
    purchases = threading.Thread(target=requests_come)
    purchases.start()
    try:
        sent = backlog_step(True, grace=1.0)
    finally:
        sending.clear()
        purchases.join(30)
    assert sent == len(left) and len(accepted) > 100
    copies = Counter(stream_event_ids(settings.CELERY_BROKER_URL))
    assert [copies[event.id] for event in left] == [1] * len(left)
    assert [copies[one] for one in accepted] == [1] * len(accepted)
    backlog_forget()
    assert not AnalyticsBacklog.objects.exists()


@pytest.mark.django_db
@override_settings(TIGLE_WRITE_MODE="sync")
def test_a_retry_of_a_purchase_whose_first_attempt_died_after_the_commit_counts_once(client):
    path = "/purchase/8/customer/8000/date/20210101"
    body = json.dumps({"items": [{"ItemID": "8", "numberOfItems": 2}]}).encode()
    key, first_id = f"retry-{uuid.uuid4()}", str(uuid.uuid4())
    # The first attempt wrote and kept the purchase, then died before its publish (its key's
    # lock, released here, would expire).
    with pytest.raises(RuntimeError):
        with idempotency.key_claim(key=key, fingerprint=idempotency.request_fingerprint(path, body),
                                   purchase_id=first_id) as claim:
            purchases_bulk_create(events=[purchase_parse(
                store_id="8", customer_id="8000", date="20210101", body=body,
                purchase_id=claim.purchase_id)], keep_for_analytics=True)
            raise RuntimeError("killed")
    response = client.post(path, body, content_type="application/json",
                           HTTP_IDEMPOTENCY_KEY=key)
    assert (response.status_code, response.json()["purchaseID"]) == (201, first_id)
    assert (Purchase.objects.count(), AnalyticsBacklog.objects.count()) == (1, 1)
    assert backlog_send(grace=0) == 1
    assert stream_event_ids(settings.CELERY_BROKER_URL).count(first_id) == 1
