import datetime
import os
import subprocess
import sys
import textwrap
import uuid

import pytest

from purchases.events import event_new
from purchases.models import Purchase, PurchaseItem
from purchases.services import purchases_bulk_create
from loadtest.stack import ROOT


def event(store=5, items=((123, 2), (77, 1)), purchase_id=None):
    return event_new(store_id=store, customer_id=store * 1000 + 3, date=datetime.date(2021, 1, 1),
                     items=list(items), purchase_id=purchase_id)


@pytest.mark.django_db
def test_it_writes_purchases_and_their_items_field_by_field():
    first, second = event(5), event(6, items=((9, 4),))
    assert purchases_bulk_create(events=[first, second]) == 2
    stored = Purchase.objects.get(purchase_id=uuid.UUID(first.id))
    assert (stored.store_id, stored.customer_id, stored.date) == (5, 5003, datetime.date(2021, 1, 1))
    assert list(stored.items.order_by("id").values_list("item_id", "quantity")) == [(123, 2), (77, 1)]
    assert PurchaseItem.objects.count() == 3


@pytest.mark.django_db
def test_it_never_writes_a_redelivered_purchase_twice():
    once = event()
    purchases_bulk_create(events=[once])
    assert purchases_bulk_create(events=[once, event(7)]) == 1
    assert purchases_bulk_create(events=[once, once]) == 0
    assert Purchase.objects.filter(purchase_id=uuid.UUID(once.id)).count() == 1
    assert PurchaseItem.objects.count() == 4
    assert Purchase.objects.get(purchase_id=uuid.UUID(once.id)).items.count() == 2


@pytest.mark.django_db
def test_it_writes_a_purchase_seen_twice_in_one_batch_once():
    twice = event()
    assert purchases_bulk_create(events=[twice, twice]) == 1
    assert PurchaseItem.objects.count() == 2


@pytest.mark.django_db
def test_a_value_the_database_refuses_fails_the_whole_batch_as_a_permanent_error():
    from purchases.tasks import RecordTask

    with pytest.raises(RecordTask.permanent_errors):
        purchases_bulk_create(events=[event(6), event(2**32)])  # store_id is unsigned 32-bit
    assert not Purchase.objects.exists() and not PurchaseItem.objects.exists()


def test_it_writes_the_same_rows_on_the_embedded_sqlite_database(tmp_path):
    """The embedded mode's database takes the same batches as MariaDB."""
    code = textwrap.dedent("""
        import datetime, django
        django.setup()
        from django.core.management import call_command
        from django.db import connection
        from purchases.events import event_new
        from purchases.models import Purchase
        from purchases.services import purchases_bulk_create
        call_command("migrate", verbosity=0)
        events = [event_new(store_id=s, customer_id=s * 10, date=datetime.date(2021, 1, s),
                            items=[(s, 1), (s + 100, 2)]) for s in (1, 2, 3)]
        print(connection.vendor, purchases_bulk_create(events=events[:2]),
              purchases_bulk_create(events=events))
        for p in Purchase.objects.order_by("store_id"):
            print(str(p.purchase_id) in {e.id for e in events}, p.store_id, p.customer_id,
                  p.date.day, p.created_at.tzinfo is not None,
                  sorted(p.items.values_list("item_id", "quantity")))
    """)
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SECRET_KEY", "REDIS_URL")}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, env={**env, "TIGLE_VAR_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "sqlite 2 1",
        "True 1 10 1 True [(1, 1), (101, 2)]",
        "True 2 20 2 True [(2, 1), (102, 2)]",
        "True 3 30 3 True [(3, 1), (103, 2)]",
    ]
