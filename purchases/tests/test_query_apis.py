"""The top-N endpoints in process: validation before analytics is asked, 503 without it,
and answers again soon after analytics is back."""
import os
import time

import pytest
from django.test import Client, override_settings

from analytics.tests.test_consumer import task_body
from analytics.tests.test_process import filesystem_publish
from loadtest.stack import analytics_start
from purchases import analytics_client
from purchases.tests.helpers import wait_until


@pytest.mark.parametrize("path", [
    "/items/store/0", "/items/store/-3", "/items/store/abc", "/items/store/99999999999",
    "/items/top5/0", "/items/top5/1.5", "/items/store/1?top=0", "/items/top5/1?top=1001",
    "/items/store/1?top=ten", "/items/top5/1?top=3&top=4",
])
def test_it_refuses_a_bad_id_or_top_with_400_naming_it(path):
    response = Client().get(path)
    assert response.status_code == 400
    name = "top" if "top=" in path else ("storeID" if "/store/" in path else "itemID")
    assert response.json()["message"].startswith(f"{name}:")


def test_it_answers_405_to_a_post_and_options_says_it_reads_no_body():
    assert Client().post("/items/store/1").status_code == 405
    assert Client().options("/items/store/1").json()["parses"] == []


@override_settings(ANALYTICS_ADDRESS=["127.0.0.1:1", "127.0.0.1:2"], TIGLE_ANALYTICS_TIMEOUT=0.5)
def test_it_answers_503_with_retry_after_when_no_replica_listens():
    for path in ("/items/store/1", "/items/top5/1"):
        response = Client().get(path)
        assert response.status_code == 503 and response["Retry-After"] == "1"


def test_it_names_every_replica_in_one_round_robin_target():
    assert analytics_client.channel_target(["10.0.0.5:50051"]) == ("10.0.0.5:50051", True)
    target = analytics_client.channel_target(["127.0.0.1:50051", "127.0.0.1:50052"])
    assert target == ("ipv4:127.0.0.1:50051,127.0.0.1:50052", True)
    assert analytics_client.channel_target(["[::1]:50051", "[::1]:50052"]) == (
        "ipv6:[::1]:50051,[::1]:50052", True)


@pytest.mark.slow
def test_reads_come_back_within_seconds_of_analytics_coming_back(tmp_path):
    """gRPC backs off longer after each failed connect (to 120 s by default): without a cap
    the web went on answering 503 for many seconds after analytics was serving again."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(TIGLE_VAR_DIR=str(tmp_path / "var"))
    analytics, address = analytics_start(env, tmp_path, state_dir=tmp_path / "state")
    port = int(address.rpartition(":")[2])
    try:
        filesystem_publish(tmp_path / "var" / "broker", [task_body(3, [(8, 2)])])
        with override_settings(ANALYTICS_ADDRESS=[address], TIGLE_ANALYTICS_TIMEOUT=0.5):
            def status() -> int:
                return Client().get("/items/store/3").status_code

            wait_until(lambda: status() == 200, 30, "the store's ranking")
            analytics.stop()
            away_until = time.monotonic() + 15
            while time.monotonic() < away_until:  # the web asks on, as stores' reads would
                assert status() == 503
                time.sleep(0.3)
            analytics, _ = analytics_start(env, tmp_path, state_dir=tmp_path / "state",
                                           port=port)
            back = time.monotonic()
            wait_until(lambda: status() == 200, 30, "the ranking once analytics is back")
            assert time.monotonic() - back < 3
    finally:
        analytics.stop()
