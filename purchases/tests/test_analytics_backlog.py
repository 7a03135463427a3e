"""Sync mode's outbox on the run's real database and broker (a process killed before the
confirm, and the broker cut for real: test_faults.py)."""
import datetime

import pytest
from django.conf import settings
from django.test import override_settings

from purchases.analytics_backlog import backlog_forget, backlog_keep, backlog_send
from purchases.events import event_new
from purchases.models import AnalyticsBacklog, Purchase
from purchases.services import HandoverFailed, purchase_accept
from purchases.tests.helpers import stream_event_ids


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
