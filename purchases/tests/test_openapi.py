"""The OpenAPI schema against the API itself: what it documents is what the views accept.

The views run in process (Django's test client, or the WSGI application for schemathesis),
publishing to this run's real RabbitMQ vhost; rankings come from a real gRPC analytics server.
"""
import re

import pytest
import schemathesis
from django.test import Client, override_settings
from hypothesis import HealthCheck, given, settings as hypothesis_settings
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from analytics.server import create_server, health_serving
from analytics.state import State
from tigle_project.wsgi import application

POST_PATH = "/purchase/{storeID}/customer/{custID}/date/{date}"
# Per operation and generation mode: enough to reach every field's edges, a few seconds in all.
EXAMPLES = 25


@pytest.fixture
def schema() -> dict:
    response = Client().get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    return response.json()


@pytest.fixture
def analytics_served():
    """A real analytics server holding a few sales, and the web tier pointed at it."""
    state = State()
    state.matrix.apply([(1, [(1, 5), (2, 3)]), (2, [(1, 9)])])
    server, port, health = create_server("127.0.0.1:0", lambda: state)
    server.start()
    health_serving(health, True)
    with override_settings(ANALYTICS_ADDRESS=[f"127.0.0.1:{port}"]):
        yield
    server.stop(None)


def path_values(operation: dict) -> dict[str, str]:
    """A valid value for each path parameter: an integer's minimum, or the documented example."""
    values = {}
    for parameter in operation["parameters"]:
        if parameter["in"] == "path":
            kind = parameter["schema"]
            values[parameter["name"]] = str(kind.get("minimum", kind.get("example")))
    return values


def test_it_documents_the_purchase_body_and_typed_path_parameters(schema):
    post = schema["paths"][POST_PATH]["post"]
    body = post["requestBody"]
    assert body["required"] and body["content"]["application/json"]["examples"]
    components = schema["components"]["schemas"]
    items = components["PurchaseBody"]["properties"]["items"]
    assert (items["minItems"], items["maxItems"]) == (1, 100)
    line = components["PurchaseItem"]
    assert {"numberOfItems", "numberOfItems:"} <= set(line["properties"])
    item_id = line["properties"]["ItemID"]["oneOf"]
    assert [kind["type"] for kind in item_id] == ["string", "integer"]
    path = {p["name"]: p["schema"] for p in post["parameters"] if p["in"] == "path"}
    assert path["storeID"] == {"type": "integer", "minimum": 1, "maximum": 2**31 - 1,
                                "format": "int32"}
    assert path["custID"]["type"] == "integer" and path["custID"]["minimum"] == 0
    assert re.fullmatch(path["date"]["pattern"], "20240229")
    assert not re.fullmatch(path["date"]["pattern"], "2024-02-29")
    assert {"201", "400", "413", "503"} <= set(post["responses"])
    assert "Retry-After" in post["responses"]["503"]["headers"]


def test_it_documents_every_operation_for_its_users_and_leaves_itself_out(schema):
    assert "/api/schema/" not in schema["paths"]
    assert {"/items/store/{storeID}", "/items/top5/{itemID}", "/healthz"} <= set(schema["paths"])
    for methods in schema["paths"].values():
        for operation in methods.values():
            assert operation["summary"] and operation["description"]
            for parameter in operation.get("parameters", []):
                assert parameter["description"]
                kind = parameter["schema"]
                if parameter["in"] == "path":
                    assert kind["type"] == "integer" or "pattern" in kind


def test_the_docs_page_loads_nothing_from_outside():
    page = Client().get("/api/docs/")
    assert page.status_code == 200
    assert not re.search(rb"""(src|href)=["']https?://""", page.content), page.content


@pytest.mark.django_db
def test_it_records_the_schemas_own_request_examples(schema, broker):
    post = schema["paths"][POST_PATH]["post"]
    path = POST_PATH.format(**path_values(post))
    examples = post["requestBody"]["content"]["application/json"]["examples"]
    for name, example in examples.items():
        response = Client().post(path, data=example["value"], content_type="application/json")
        assert response.status_code == 201, (name, response.content)
        assert set(response.json()) == {"message", "purchaseID"}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("mode", [schemathesis.GenerationMode.POSITIVE,
                                  schemathesis.GenerationMode.NEGATIVE])
def test_it_answers_no_5xx_to_what_schemathesis_sends(schema, broker, analytics_served, mode):
    api = schemathesis.openapi.from_wsgi("/api/schema/", application)
    for result in api.get_all_operations():
        operation = result.ok()
        documented = schema["paths"][operation.path][operation.method.lower()]
        if mode == schemathesis.GenerationMode.NEGATIVE and not (
                documented.get("parameters") or documented.get("requestBody")):
            continue  # nothing in it that could be invalid

        # derandomize: the same requests every run, so a failure is never a fluke.
        @hypothesis_settings(max_examples=EXAMPLES, derandomize=True, deadline=None,
                             database=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode))
        def answers(case):
            # Every other check runs: no 5xx, and status, headers and body as documented.
            # The schema cannot say exactly what the server takes (20210230 fits the date's
            # pattern; leading zeros in a string ItemID are accepted but not shown), so the
            # two checks that demand an exact match are left out.
            case.call_and_validate(excluded_checks=[positive_data_acceptance,
                                                    negative_data_rejection])

        answers()


def test_each_ranking_documents_its_own_no_sales_answer(schema):
    for path, name in (("/items/store/{storeID}", "storeID"), ("/items/top5/{itemID}", "itemID")):
        answer = schema["paths"][path]["get"]["responses"]["404"]["content"]["application/json"]
        messages = [example["value"]["message"] for example in answer["examples"].values()]
        assert messages and all(m == f"{name} 7: no sales" for m in messages), messages
