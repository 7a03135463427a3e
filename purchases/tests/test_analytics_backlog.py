"""The sync-mode analytics backlog on the run's real database and broker (the broker cut for
real: test_faults.py)."""
import datetime

import pytest
from django.conf import settings

from purchases.analytics_backlog import backlog_keep, backlog_send
from purchases.events import event_new
from purchases.models import AnalyticsBacklog
from purchases.tests.helpers import stream_event_ids


@pytest.mark.django_db
def test_kept_purchases_go_to_the_analytics_stream_once_confirmed_and_are_forgotten():
    events = [event_new(store_id=store, customer_id=store * 1000, date=datetime.date(2021, 1, 1),
                        items=[(store, 2)]) for store in (3, 4, 5)]
    for event in events:
        backlog_keep(event)
    backlog_keep(events[0])  # a purchase kept twice is kept once
    assert AnalyticsBacklog.objects.count() == 3
    assert backlog_send(limit=2) == 2
    assert AnalyticsBacklog.objects.count() == 1
    assert backlog_send() == 1
    assert backlog_send() == 0
    ours = {event.id for event in events}
    assert sorted(i for i in stream_event_ids(settings.CELERY_BROKER_URL) if i in ours) == \
        sorted(ours)
