"""The staff dashboard in headless Chromium against real web, worker and analytics
processes: what an operator sees, live, without a reload."""
from __future__ import annotations

import shutil
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import requests
from kombu import Connection
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from purchases.events import DB_QUEUE
from purchases.tests.helpers import Sent, not_a_purchase_publish, purchase_post

PASSWORD = "dashboard-test-password"
STORE, ITEM = 7, 4242
# Kept for review: the newest run's screenshots, wherever pytest's tmp_path was.
SHOTS = Path("/tmp/shots")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1440,1000",
]


@pytest.fixture
def browser(tmp_path):
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium'}"]:
        options.add_argument(flag)
    # Both paths given: Selenium Manager, which would look for drivers online, is not run.
    driver = webdriver.Chrome(options=options,
                              service=Service(executable_path=shutil.which("chromedriver")))
    yield driver
    driver.quit()


def screenshot(browser, log_dir: Path, name: str) -> None:
    browser.save_screenshot(str(log_dir / name))
    SHOTS.mkdir(exist_ok=True)
    shutil.copy(log_dir / name, SHOTS / name)


def number(browser, element_id: str) -> float | None:
    text = browser.find_element(By.ID, element_id).text.replace(",", "")
    try:
        return float(text)
    except ValueError:  # "n/a", "…" or "–"
        return None


def wait_for(browser, predicate, what: str, timeout: float = 15):
    return WebDriverWait(browser, timeout, poll_frequency=0.1).until(
        lambda _: predicate(), message=f"dashboard: {what}")


def polls(browser) -> int:
    """Samples the page has shown since it loaded."""
    return int(browser.find_element(By.TAG_NAME, "body").get_attribute("data-polls"))


def part_status(browser, part: str) -> str:
    return browser.find_element(By.CSS_SELECTOR, f"#health-{part} .status").text.lower()


def table(browser, table_id: str) -> list[tuple[int, int]]:
    """(id, units) of each row, read in one script: each poll replaces the rows."""
    rows = browser.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(row => "
        "[...row.cells].slice(1, 3).map(cell => cell.textContent))", f"#{table_id} tbody tr")
    return [(int(one), int(units.replace(",", ""))) for one, units in rows]


def ranking(counts: Counter, n: int) -> list[tuple[int, int]]:
    return sorted(counts.items(), key=lambda one: (-one[1], one[0]))[:n]


def sender_start(base: str, sent: list[Sent], stop: threading.Event) -> threading.Thread:
    """POSTs purchases until stopped: every third at STORE, every other one with ITEM."""
    def run() -> None:
        session, n = requests.Session(), 0
        while not stop.is_set():
            store = STORE if n % 3 == 0 else 1 + n % 5
            items = [(100 + n % 13, 1 + n % 4), (ITEM, 1 + n % 2)] if n % 2 else [(100 + n % 13, 2)]
            sent.append(purchase_post(session, base, Sent(store, 9000 + n, "20260101", items)))
            n += 1
            # In bursts: analytics applies what it read once the stream pauses (or a batch
            # is full), as a store's till does.
            time.sleep(0.2 if n % 10 == 0 else 0)

    thread = threading.Thread(target=run, name="sender")
    thread.start()
    return thread


def test_it_shows_staff_live_rates_health_and_rankings_without_a_reload(
        own_stack, browser, django_user_model):
    stack = own_stack
    django_user_model.objects.create_user("operator", password=PASSWORD, is_staff=True)
    stack.start_worker()
    _, address = stack.start_analytics()
    stack.start_web(ANALYTICS_ADDRESS=address)
    base = stack.base

    anonymous = requests.get(f"{base}/dashboard/", allow_redirects=False, timeout=10)
    assert (anonymous.status_code, anonymous.headers["Location"]) == (
        302, "/admin/login/?next=/dashboard/")
    assert requests.get(f"{base}/dashboard/data", timeout=10).status_code == 403

    browser.get(f"{base}/dashboard/")
    assert browser.current_url.startswith(f"{base}/admin/login/")
    browser.find_element(By.ID, "id_username").send_keys("operator")
    browser.find_element(By.ID, "id_password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    wait_for(browser, lambda: browser.current_url.startswith(f"{base}/dashboard/"), "logged in")
    for input_id, value in (("store-input", STORE), ("item-input", ITEM)):
        field = browser.find_element(By.ID, input_id)
        field.clear()
        field.send_keys(str(value))
    browser.execute_script("window.notReloaded = true")
    for part in ("web", "database", "broker", "worker", "analytics"):
        wait_for(browser, lambda: part_status(browser, part) == "ok", f"{part} ok")
    wait_for(browser, lambda: "No sales yet for store 7" in browser.page_source, "empty ranking")
    polls_since, since = polls(browser), time.monotonic()

    sent: list[Sent] = []
    stop = threading.Event()
    sender = sender_start(base, sent, stop)
    try:
        for rate in ("accepted", "written", "counted"):
            wait_for(browser, lambda: (number(browser, rate) or 0) > 0, f"{rate} rate above 0")
        screenshot(browser, stack.log_dir, "dashboard.png")
    finally:
        stop.set()
        sender.join()

    accepted = [one for one in sent if one.status == 201]
    assert accepted and len(accepted) == len(sent)
    items_of_store, stores_of_item = Counter(), Counter()
    for one in accepted:
        for item, quantity in one.items:
            if one.store_id == STORE:
                items_of_store[item] += quantity
            if item == ITEM:
                stores_of_item[one.store_id] += quantity
    wait_for(browser, lambda: table(browser, "top-items") == ranking(items_of_store, 10),
             "the store's top 10 as sent")
    wait_for(browser, lambda: table(browser, "top-stores") == ranking(stores_of_item, 5),
             "the item's top 5 as sent")
    total = f"total {len(accepted):,}"
    for rate in ("accepted", "counted"):
        wait_for(browser, lambda: browser.find_element(By.ID, f"{rate}-note").text == total,
                 f"{rate} {total}")
    for level in ("backlog", "lag"):
        wait_for(browser, lambda: number(browser, level) == 0, f"{level} drained to 0")
    assert browser.execute_script("return window.notReloaded") is True
    assert polls(browser) - polls_since >= time.monotonic() - since, "an update a second"
    resources = browser.execute_script(
        "return performance.getEntriesByType('resource').map(entry => entry.name)")
    assert resources and all(url.startswith(f"{base}/") for url in resources), resources
    assert any(url.endswith("/dashboard.css") for url in resources)
    screenshot(browser, stack.log_dir, "dashboard-drained.png")

    with Connection(stack.env["CELERY_BROKER_URL"]) as connection:
        not_a_purchase_publish(connection, DB_QUEUE)
    wait_for(browser, lambda: part_status(browser, "worker") == "attention", "worker attention")
    assert browser.find_element(By.CSS_SELECTOR, "#health-worker .detail").text.startswith(
        "1 parked: manage.py parked; 1 consuming")

    stack.analytics["analytics"][0].stop()
    wait_for(browser, lambda: part_status(browser, "analytics") == "down", "analytics down", 5)
    assert number(browser, "counted") is None and part_status(browser, "database") == "ok"
    assert "UNAVAILABLE" in browser.find_element(By.ID, "counted-note").get_attribute("title")
    empty = browser.find_element(By.ID, "top-items-empty")
    assert empty.text == "Analytics is not answering; the ranking comes back when it does."
    assert "UNAVAILABLE" in empty.get_attribute("title")  # the whole error, on hover
    screenshot(browser, stack.log_dir, "dashboard-analytics-down.png")
