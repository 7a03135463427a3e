"""Thin views: validate, call one service, answer in the seed's JSON shapes."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import DisallowedHost, TooManyFieldsSent
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from drf_spectacular.utils import extend_schema_view
from rest_framework import exceptions
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView, exception_handler as drf_exception_handler

from purchases import analytics_client, idempotency
from purchases.events import MAX_ITEM_ID, MAX_STORE_ID
from purchases.health import health_report, reads_health_report
from purchases.metrics import KEYED_BY_FOUND, purchase_rejects_counted, ranking_counted
from purchases.schema import (
    MAX_TOP,
    health_schema,
    purchase_create_schema,
    reads_health_schema,
    top_items_schema,
    top_stores_schema,
)
from purchases.request_body import BodyRefused, purchase_body
from purchases.services import HandoverFailed, purchase_accept
from purchases.validation import InvalidPurchase, path_int, purchase_parse
from purchases.json_api import FirstRendererNegotiation, json_response

RETRY_AFTER_SECONDS = "1"


def _message(status: int, text: str, **headers: str) -> HttpResponse:
    return json_response({"message": text}, status=status, headers=headers)


def _not_handed_over() -> HttpResponse:
    return _message(503, "purchase not accepted: storage unavailable; retry later",
                    **{"Retry-After": RETRY_AFTER_SECONDS})


class JsonApiView(APIView):
    """The API's views speak JSON only: no Accept parsing (the schema view keeps it)."""

    content_negotiation_class = FirstRendererNegotiation
    parser_classes: list = []  # they read no body; OPTIONS says so

    def perform_authentication(self, request: Request) -> None:
        """Lazily, as DRF documents: the API has no authenticators and never reads the user."""


class PurchaseCreateApi(JsonApiView):
    # Named for OPTIONS and the schema; the body is read and parsed by purchase_body and
    # purchase_parse, never through request.data.
    parser_classes = [JSONParser]

    @purchase_create_schema
    @purchase_rejects_counted
    def post(
        self, request: Request, storeID: str, custID: str, date: str  # noqa: N803 (the path's names)
    ) -> HttpResponse:
        if settings.TIGLE_BENCH_CEILING:  # make bench's upper bound for this server setup
            request.body  # noqa: B018 - received as a purchase's is, then not looked at
            return json_response({"message": "not recorded (bench ceiling)", "purchaseID": None},
                                 status=201)
        # Not request.headers: building it copies every header of the request (4% of the
        # web's Python time under load).
        key = request.META.get("HTTP_IDEMPOTENCY_KEY")
        try:
            body = purchase_body(request, settings.PURCHASE_MAX_BODY)
            if key is not None:
                idempotency.key_check(key)
            event = purchase_parse(store_id=storeID, customer_id=custID, date=date, body=body)
            if key is None:
                purchase_id = event.id
                purchase_accept(event=event)
            else:
                purchase_id = self._accept_once(request, key, body, event)
        except BodyRefused as exc:
            return _message(exc.status, str(exc))
        except InvalidPurchase as exc:
            return _message(400, str(exc))
        except idempotency.IdempotencyError as exc:
            retry = {"Retry-After": RETRY_AFTER_SECONDS} if exc.status in (409, 503) else {}
            return _message(exc.status, str(exc), **retry)
        except HandoverFailed:
            return _not_handed_over()
        return json_response(
            {"message": "purchase accepted", "purchaseID": purchase_id}, status=201
        )

    @staticmethod
    def _accept_once(request: Request, key: str, body: bytes, event) -> str:
        fingerprint = idempotency.request_fingerprint(request.path, body)
        with idempotency.key_claim(key=key, fingerprint=fingerprint, purchase_id=event.id) as claim:
            found = "new" if claim.purchase_id == event.id else "done" if claim.done else "pending"
            KEYED_BY_FOUND[found].inc()
            if not claim.done:
                purchase_accept(event=dataclasses.replace(event, id=claim.purchase_id))
                claim.done = True
        return claim.purchase_id


def _ranking(request: Request, raw_id: str, *, name: str, high: int, default: int, key: str,
             ranking: Callable[[int, int], list[tuple[int, int]]]) -> HttpResponse:
    """Validate the ID and ?top=, ask analytics, answer in the seed's shape."""
    tops = request.query_params.getlist("top")
    raw_top = tops[0] if tops else None
    try:
        if len(tops) > 1:
            raise InvalidPurchase(f"top: is given {len(tops)} times; give it once")
        ranked_id = path_int(raw_id, name, 1, high)
        n = default if raw_top is None else path_int(raw_top, "top", 1, MAX_TOP)
    except InvalidPurchase as exc:
        return _message(400, str(exc))
    try:
        found = ranking(ranked_id, n)
    except analytics_client.AnalyticsUnavailable:
        return _message(503, "analytics unavailable; retry later",
                        **{"Retry-After": RETRY_AFTER_SECONDS})
    except ValueError as exc:  # analytics refused the arguments: its limits are the law
        return _message(400, str(exc))
    if not found:
        return _message(404, f"{name} {ranked_id}: no sales")
    return json_response(
        {"stores": [{key: one, "numberOfItems": quantity} for one, quantity in found]})


class TopItemsApi(JsonApiView):
    @top_items_schema
    def get(self, request: Request, storeID: str) -> HttpResponse:  # noqa: N803
        """The store's best-selling items, most units first, ties by the lower itemID."""
        return ranking_counted("top_items", _ranking(
            request, storeID, name="storeID", high=MAX_STORE_ID, default=10, key="itemID",
            ranking=lambda store, n: analytics_client.top_items(store_id=store, n=n)))


class TopStoresApi(JsonApiView):
    @top_stores_schema
    def get(self, request: Request, itemID: str) -> HttpResponse:  # noqa: N803
        """The stores that sold most units of the item, ties by the lower storeID."""
        return ranking_counted("top_stores", _ranking(
            request, itemID, name="itemID", high=MAX_ITEM_ID, default=5, key="storeID",
            ranking=lambda item, n: analytics_client.top_stores(item_id=item, n=n)))


class HealthApi(JsonApiView):
    report = staticmethod(health_report)

    @health_schema
    def get(self, request: Request) -> HttpResponse:
        ready, report = self.report()
        return json_response(report, status=200 if ready else 503)


@extend_schema_view(get=reads_health_schema)
class ReadsHealthApi(HealthApi):
    """For a load balancer's read hosts (`/items/*`): ready when analytics answers."""

    report = staticmethod(reads_health_report)


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's errors in the API's shape: {"message": ...}."""
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, exceptions.APIException):
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        response.data = {"message": str(detail)}
    return response


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """What Django refuses before a view runs, in the API's shape."""
    if isinstance(exception, DisallowedHost):
        text = f"Host: {request.META.get('HTTP_HOST', '')!r} is not a name this server answers to"
    elif isinstance(exception, TooManyFieldsSent):
        text = f"too many query or form fields (at most {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS})"
    else:
        text = "bad request"
    return JsonResponse({"message": text}, status=400)


def index(request: HttpRequest) -> JsonResponse:
    """GET /: where things are, for whoever opens the server's address first."""
    if request.method not in ("GET", "HEAD"):
        return JsonResponse({"message": f"method {request.method} not allowed"}, status=405,
                            headers={"Allow": "GET, HEAD"})
    return JsonResponse({"message": "Tigle: purchases in, rankings out", "links": {
        "API docs": reverse("docs"), "OpenAPI schema": reverse("schema"),
        "health": reverse("healthz"), "dashboard (staff)": reverse("dashboard"),
        "admin (staff)": reverse("admin:index")}})


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse({"message": f"not found: {request.path}"}, status=404)


def server_error(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"message": "internal server error"}, status=500)
