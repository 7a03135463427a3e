"""The admin and the dashboard in a gevent web process (queue mode): their database waits
hold no purchase.

mysqlclient blocks in C, which under gevent holds every greenlet of the process; the pages
that read the database run it on native threads (purchases/page_threads.py).
"""
import http.client
import http.cookies
import random
import re
from collections.abc import Iterator
import threading
import time
import urllib.parse

import pytest
import requests

from purchases.page_threads import ADMIN_PREFIX, DASHBOARD_PAGE
from purchases.tests.helpers import (
    database_connect,
    purchase_post,
    purchase_random,
    queries_waiting_on_table,
    wait_until,
)

LIST = "/admin/purchases/purchase/"


def test_the_paths_are_where_the_urls_put_the_pages():
    from django.urls import reverse

    assert reverse("admin:index") == ADMIN_PREFIX
    assert reverse("dashboard") == DASHBOARD_PAGE
    assert LIST.startswith(ADMIN_PREFIX)


@pytest.fixture
def staff(stack, django_user_model) -> Iterator[requests.Session]:
    """A staff member logged in through the admin's form on a gevent web of one process."""
    django_user_model.objects.create_superuser("staff", password="a long passphrase")
    stack.start_web(WEB_CONCURRENCY="1")  # the admin and the purchases in one process
    session = requests.Session()
    form = session.get(f"{stack.base}/admin/login/", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    body = urllib.parse.urlencode({"csrfmiddlewaretoken": token, "username": "staff",
                                   "password": "a long passphrase", "next": LIST})
    status, cookies = _post_body_apart(stack.base, f"/admin/login/?next={LIST}", body.encode(),
                                       {**session.cookies.get_dict()})
    assert status == 302 and "sessionid" in cookies, (status, cookies)
    session.cookies.update(cookies)
    page = session.get(f"{stack.base}{LIST}", timeout=30)
    assert page.status_code == 200 and "Select purchase to view" in page.text
    yield session
    session.close()  # a kept-alive connection would hold the web's graceful stop


def _post_body_apart(base: str, path: str, body: bytes, cookies: dict[str, str]):
    """A form POST whose body reaches the web after its headers, as over a real network;
    (status, cookies set)."""
    host, port = urllib.parse.urlsplit(base).netloc.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.putrequest("POST", path)
        for name, value in {"Content-Type": "application/x-www-form-urlencoded",
                            "Content-Length": str(len(body)), "Referer": f"{base}/admin/login/",
                            "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}.items():
            connection.putheader(name, value)
        connection.endheaders()
        time.sleep(0.2)  # the request runs on the headers alone and reads the body as it comes
        connection.send(body)
        response = connection.getresponse()
        response.read()
        jar = http.cookies.SimpleCookie()
        for header in response.headers.get_all("Set-Cookie") or []:
            jar.load(header)
        return response.status, {name: morsel.value for name, morsel in jar.items()}
    finally:
        connection.close()


@pytest.mark.slow
def test_purchases_are_answered_while_the_pages_wait_on_the_database(stack, staff):
    locker = database_connect(stack.database_url)
    locker.cursor().execute("LOCK TABLES django_session WRITE")  # the pages' first query waits
    pages = {"admin": LIST, "dashboard": DASHBOARD_PAGE, "poll": "/dashboard/data"}
    answers: dict[str, requests.Response] = {}
    waiting = [threading.Thread(target=lambda name=name, path=path: answers.update(
        {name: requests.get(f"{stack.base}{path}", cookies=staff.cookies, timeout=60)}))
        for name, path in pages.items()]
    try:
        for page in waiting:
            page.start()
        wait_until(lambda: queries_waiting_on_table(stack.database_url, "django_session")
                   == len(pages), 10,
                   "each page waiting for the locked session table")
        started = time.monotonic()
        with requests.Session() as session:
            sent = [purchase_post(session, stack.base, purchase_random(random.Random(n)))
                    for n in range(5)]
        answered_in = time.monotonic() - started
        assert [s.status for s in sent] == [201] * 5
        assert answered_in < 5, answered_in
        # A poll without its token gives up on the login check after a second: 503, not a wait.
        wait_until(lambda: "poll" in answers, 10, "the poll's answer")
        assert answers["poll"].status_code == 503, answers["poll"].text
        assert "login not checkable" in answers["poll"].json()["message"]
        assert waiting[0].is_alive() and waiting[1].is_alive(), "a page did not wait for the lock"
    finally:
        locker.cursor().execute("UNLOCK TABLES")
        locker.close()
    for page in waiting:
        page.join(30)
    assert (answers["admin"].status_code, answers["dashboard"].status_code) == (200, 200)
    assert "Select purchase to view" in answers["admin"].text
    poll = requests.get(f"{stack.base}/dashboard/data", cookies=staff.cookies, timeout=30)
    assert poll.status_code == 200 and "counted" in poll.json()
