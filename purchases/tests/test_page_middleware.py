"""Sessions, logins and messages run for pages, not for the JSON API."""
import pytest
from django.test import Client
from django.urls import reverse

from purchases.page_middleware import is_api

API_URLS = [("purchase-create", {"storeID": "1", "custID": "1000", "date": "20210101"}),
            ("top-items", {"storeID": "1"}), ("top-stores", {"itemID": "1"}),
            ("healthz", {}), ("healthz-reads", {})]
PAGE_URLS = ["admin:index", "admin:login", "dashboard", "dashboard-data", "docs", "schema",
             "metrics"]


@pytest.mark.parametrize("name,kwargs", API_URLS)
def test_every_api_path_skips_the_page_middleware(name, kwargs):
    assert is_api(reverse(name, kwargs=kwargs))


@pytest.mark.parametrize("name", PAGE_URLS)
def test_every_page_keeps_it(name):
    assert not is_api(reverse(name))


def test_a_page_gets_its_csrf_cookie_and_frame_header(db):
    response = Client().get(reverse("admin:login"))
    assert response.status_code == 200
    assert response["X-Frame-Options"] == "DENY" and "csrftoken" in response.cookies


def test_a_page_still_asks_for_a_login(db):
    response = Client().get(reverse("dashboard"))
    assert response.status_code == 302 and reverse("admin:login") in response["Location"]


def test_an_api_answer_reads_no_session_and_keeps_its_security_headers(db, admin_client):
    # Even from a browser that is logged in: the API never reads the session.
    response = admin_client.get(reverse("top-items", kwargs={"storeID": "0"}))
    assert response.status_code == 400
    assert "Cookie" not in response.get("Vary", "") and not response.cookies
    assert response["X-Frame-Options"] == "DENY"
