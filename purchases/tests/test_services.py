import datetime
import uuid

import pytest

from purchases.events import event_new
from purchases.models import Purchase, PurchaseItem
from purchases.services import purchases_bulk_create


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


@pytest.mark.django_db
def test_it_writes_a_purchase_seen_twice_in_one_batch_once():
    twice = event()
    assert purchases_bulk_create(events=[twice, twice]) == 1
    assert PurchaseItem.objects.count() == 2
