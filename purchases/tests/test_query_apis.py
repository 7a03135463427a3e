"""The top-N endpoints in process: validation before analytics is asked, 503 without it."""
import pytest
from django.test import Client, override_settings

from purchases import analytics_client


@pytest.mark.parametrize("path", [
    "/items/store/0", "/items/store/-3", "/items/store/abc", "/items/store/99999999999",
    "/items/top5/0", "/items/top5/1.5", "/items/store/1?top=0", "/items/top5/1?top=1001",
    "/items/store/1?top=ten",
])
def test_it_refuses_a_bad_id_or_top_with_400_naming_it(path):
    response = Client().get(path)
    assert response.status_code == 400
    name = "top" if "top=" in path else ("storeID" if "/store/" in path else "itemID")
    assert response.json()["message"].startswith(f"{name}:")


def test_it_answers_405_to_a_post():
    assert Client().post("/items/store/1").status_code == 405


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
