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
    # Digits str.isdigit() takes and int() refuses, or reads as another number.
    for odd in ("²", "①", "١", "２００１", "9" * 30):
        response = staff.get(LIST, {"q": odd})
        assert response.status_code == 200 and listed(response) == 0, odd


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


def test_it_never_shows_a_capped_count_as_exact(staff, purchases, monkeypatch):
    from purchases import admin_tools

    monkeypatch.setattr(admin_tools, "table_rows_estimate", lambda model, using: None)
    monkeypatch.setattr(admin_tools.CappedCountPaginator, "CAP", 5)
    html = staff.get(LIST).content.decode()
    assert "more than 5 purchases" in html and "the pages reach the first 5," in html
    assert "3 purchases" in staff.get(LIST, {"store": "2"}).content.decode()
    searched = staff.get(LIST, {"q": "2001"}).content.decode()
    assert "1 purchase " in searched and "more than" not in searched
    monkeypatch.setattr(admin_tools.CappedCountPaginator, "CAP", 9)  # exactly the cap: exact
    html = staff.get(LIST).content.decode()
    assert "9 purchases" in html and "more than" not in html


def test_it_shows_the_tables_estimate_as_about_when_nothing_is_filtered(staff, purchases,
                                                                       monkeypatch):
    from purchases import admin_tools

    monkeypatch.setattr(admin_tools, "table_rows_estimate", lambda model, using: 10_804_112)
    monkeypatch.setattr(admin_tools.CappedCountPaginator, "CAP", 2)
    assert "about 10,800,000 purchases" in staff.get(LIST).content.decode()
    filtered = staff.get(LIST, {"store": "2"}).content.decode()  # the estimate is the table's
    assert "more than 2 purchases" in filtered and "about" not in filtered
    searched = staff.get(LIST, {"q": "2001"}).content.decode()
    assert "1 purchase " in searched and "10,800,000" not in searched


def test_the_estimate_comes_from_the_databases_statistics(db):
    from django.db import connection

    from purchases.admin_tools import table_rows_estimate
    from purchases.models import Purchase

    estimate = table_rows_estimate(Purchase, "default")
    assert estimate is None if connection.vendor != "mysql" else isinstance(estimate, int)


def test_view_site_opens_the_dashboard(staff):
    html = staff.get("/admin/").content.decode()
    assert '<a href="/dashboard/">View site</a>' in html


def test_internal_tables_are_for_superusers_only(client, django_user_model, purchases):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("clerk", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="purchases"))
    client.force_login(user)
    backlog = "/admin/purchases/analyticsbacklog/"
    assert client.get(LIST).status_code == 200
    assert client.get(backlog).status_code == 403
    index = client.get("/admin/").content.decode()
    assert "/admin/purchases/purchase/" in index and backlog not in index


def test_filtered_by_store_it_lists_the_newest_day_first(staff, purchases):
    html = staff.get(LIST, {"store": "3"}).content.decode()
    days = [html.index(f"Jan. {day}, 2021") for day in (3, 2, 1)]
    assert days == sorted(days)
