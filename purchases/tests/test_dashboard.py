"""The staff dashboard's data: its access rules, deadlines and health parts, in-process and
against a real web (what an operator sees in Chromium: test_dashboard_browser.py)."""
from __future__ import annotations

import re
import time

import requests

from purchases.dashboard.access import TOKEN_HEADER
from purchases.dashboard.sample import DEADLINE_SECONDS
from purchases.events import PARKED_QUEUE
from purchases.tests.conftest import queue_depth
from purchases.tests.helpers import not_a_purchase_publish, wait_until

PASSWORD = "dashboard-test-password"


def test_it_sends_anonymous_users_to_the_admin_login(client):
    response = client.get("/dashboard/")
    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/dashboard/"
    assert client.get("/dashboard/data").status_code == 403


def test_it_refuses_a_user_who_is_not_staff(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("clerk"))
    assert client.get("/dashboard/").status_code == 302
    assert client.get("/dashboard/data").status_code == 403


def test_it_shows_a_part_that_does_not_answer_as_down_within_its_deadline(
        admin_client, settings, broker):
    settings.ANALYTICS_ADDRESS = ["127.0.0.1:9"]  # nothing listens: analytics is down
    started = time.monotonic()
    data = admin_client.get("/dashboard/data", {"store": "3", "item": "²"}).json()
    assert time.monotonic() - started < DEADLINE_SECONDS + 0.5
    assert data["health"]["analytics"]["status"] == "down"
    assert data["health"]["database"]["status"] == "ok"
    assert data["health"]["broker"]["status"] == "ok"
    assert data["counted"] is None and data["lag"] is None
    assert data["missing"]["counted"]["reason"] == "analytics is not answering"
    assert "UNAVAILABLE" in data["missing"]["counted"]["detail"]
    assert isinstance(data["backlog"], int)
    assert data["written"] is None and data["missing"]["written"]["reason"] == (
        "no purchase written yet")
    assert data["store"]["id"] == 3 and data["store"]["error"]
    assert data["item"] == {"id": None, "rows": [], "error": None}


def test_the_worker_part_asks_for_a_person_while_messages_are_parked(admin_client, broker):
    broker.default_channel.queue_purge(PARKED_QUEUE)
    not_a_purchase_publish(broker, PARKED_QUEUE)
    try:
        wait_until(lambda: queue_depth(broker, PARKED_QUEUE) == 1, 10, "one parked")
        worker = admin_client.get("/dashboard/data").json()["health"]["worker"]
    finally:
        broker.default_channel.queue_purge(PARKED_QUEUE)
    # No worker consumes here: down stays down, and says what is parked too.
    assert worker == {"status": "down", "detail": "1 parked: manage.py parked; "
                                                  "nothing consumes purchases.db"}


def staff_session(base: str, django_user_model) -> tuple[requests.Session, str]:
    """A staff member logged in through the admin's form, and the page's poll token."""
    django_user_model.objects.create_user("operator", password=PASSWORD, is_staff=True)
    session = requests.Session()
    session.get(f"{base}/admin/login/", timeout=10)
    session.post(f"{base}/admin/login/", timeout=10, data={
        "username": "operator", "password": PASSWORD, "next": "/dashboard/",
        "csrfmiddlewaretoken": session.cookies["csrftoken"]})
    page = session.get(f"{base}/dashboard/", timeout=10)
    assert page.status_code == 200
    return session, re.search(r'data-token="([^"]+)"', page.text)[1]


def test_it_answers_every_poll_in_time_while_broker_and_database_are_silent(
        stack, django_user_model):
    broker_proxy, broker_url = stack.proxy(stack.env["CELERY_BROKER_URL"])
    database_proxy, database_url = stack.proxy(stack.database_url)
    stack.start_web(CELERY_BROKER_URL=broker_url, DATABASE_URL=database_url)
    session, token = staff_session(stack.base, django_user_model)
    data_url = f"{stack.base}/dashboard/data"

    def health(response: requests.Response) -> tuple[str, str]:
        parts = response.json()["health"]
        return parts["database"]["status"], parts["broker"]["status"]

    assert health(session.get(data_url, headers={TOKEN_HEADER: token}, timeout=10)) == ("ok", "ok")
    broker_proxy.hold(requests=True)
    database_proxy.hold(requests=True)
    for _ in range(5):
        started = time.monotonic()
        response = session.get(data_url, headers={TOKEN_HEADER: token}, timeout=10)
        assert response.status_code == 200
        assert time.monotonic() - started < DEADLINE_SECONDS + 0.5
    assert health(response) == ("down", "down")
    data = response.json()
    assert data["written"] is None and data["backlog"] is None and data["lag"] is None
    assert data["missing"]["written"]["reason"] == "the database is not answering"

    broker_proxy.release()
    database_proxy.release()
    wait_until(lambda: health(session.get(data_url, headers={TOKEN_HEADER: token}, timeout=10))
               == ("ok", "ok"), 20, "database and broker back")
    # Without the token the login is checked in the database, and a new token comes back;
    # the token without its session lets nobody in.
    assert session.get(data_url, timeout=10).json()["token"]
    assert requests.get(data_url, headers={TOKEN_HEADER: token}, timeout=10).status_code == 403
