"""The admin: staff inspect purchases, read-only, without whole-table counts."""
import datetime
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from purchases.events import event_new
from purchases.services import purchases_bulk_create

LIST = "/admin/purchases/purchase/"


@pytest.fixture
def purchases(db):
    events = [
        event_new(store_id=store, customer_id=store * 1000 + n,
                  date=datetime.date(2021, 1, 1 + n), items=[(store, n + 1), (99, 1)])
        for store in (1, 2, 3) for n in range(3)
    ]
    purchases_bulk_create(events=events)
    return events


@pytest.fixture
def staff(admin_client):
    return admin_client


def listed(response):
    return response.content.decode().count('class="field-purchase_id"')


def test_it_lists_purchases_without_a_full_count(staff, purchases):
    with CaptureQueriesContext(connection) as queries:
        response = staff.get(LIST)
    assert response.status_code == 200 and listed(response) == 9
    html = response.content.decode()
    assert 'name="store"' in html and 'name="day"' in html and "Show counts" not in html
    counts = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]
    assert counts and all("LIMIT" in sql.upper() for sql in counts), counts
    assert len(queries) <= 10


def test_it_filters_by_store_and_date(staff, purchases):
    assert listed(staff.get(LIST, {"store": "2"})) == 3
    assert listed(staff.get(LIST, {"store": "2", "day": "2021-01-02"})) == 1
    assert listed(staff.get(LIST, {"store": "nope"})) == 0


def test_it_searches_by_customer_and_purchase_id(staff, purchases):
    assert listed(staff.get(LIST, {"q": "2001"})) == 1
    assert listed(staff.get(LIST, {"q": purchases[4].id})) == 1
    assert listed(staff.get(LIST, {"q": str(uuid.uuid4())})) == 0
    assert listed(staff.get(LIST, {"q": "some words"})) == 0


def test_it_shows_a_purchase_with_its_items_read_only(staff, purchases):
    from purchases.models import Purchase

    purchase = Purchase.objects.get(purchase_id=uuid.UUID(purchases[0].id))
    page = staff.get(f"{LIST}{purchase.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="_save"' not in html
    assert "field-item_id" in html and "field-quantity" in html
    assert staff.get(f"{LIST}add/").status_code == 403
    assert staff.post(f"{LIST}{purchase.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Purchase.objects.filter(pk=purchase.pk).exists()


def test_it_serves_the_admin_static_files_without_debug(client):
    assert client.get("/static/admin/css/base.css").status_code == 200


def test_it_requires_a_login(client):
    response = client.get(LIST)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_it_lists_the_purchases_waiting_for_analytics_read_only(staff):
    from purchases.analytics_backlog import backlog_keep

    kept = event_new(store_id=4, customer_id=4001, date=datetime.date(2021, 1, 1), items=[(9, 1)])
    backlog_keep([kept])
    backlog = "/admin/purchases/analyticsbacklog/"
    response = staff.get(backlog)
    assert response.status_code == 200 and kept.id in response.content.decode()
    assert staff.get(f"{backlog}{kept.id}/change/").status_code == 200
    assert staff.get(f"{backlog}add/").status_code == 403
