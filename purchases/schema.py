"""How /api/schema/ and /api/docs/ describe the API to its users.

Nothing here validates: purchases/validation.py does, and the limits below come from the same
constants (purchases/events.py), so the documentation cannot promise more than it accepts.
"""
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from django.conf import settings
from rest_framework import serializers

from purchases.events import MAX_CUSTOMER_ID, MAX_ITEM_ID, MAX_ITEMS, MAX_QUANTITY, MAX_STORE_ID
from purchases.validation import LEGACY_QUANTITY_KEY

# Analytics refuses a longer ranking (analytics/server.py).
MAX_TOP = 1000
MAX_BODY = settings.PURCHASE_MAX_BODY
# A pattern cannot say "up to 2147483647": the description does. Leading zeros are taken
# ("0123" is item 123), so the pattern admits them too.
ITEM_ID_PATTERN = r"^0*[1-9][0-9]{0,9}$"
# Nor can it tell 20210230 from a real day: that one is refused with a 400 naming the date.
DATE_PATTERN = r"^[1-9][0-9]{3}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])$"
QUANTITY = {"type": "integer", "minimum": 1, "maximum": MAX_QUANTITY}

PURCHASE_ITEM = {
    "type": "object",
    "description": f'One line of the receipt. The quantity goes under numberOfItems (or, '
                   f'from GianTigle 1.0 clients, under "{LEGACY_QUANTITY_KEY}"; not both). '
                   f'No key may appear twice in one object.',
    "properties": {
        "ItemID": {
            "description": f"The item bought: an integer from 1 to {MAX_ITEM_ID}, as a JSON "
                           f"string of digits or as a JSON number.",
            "oneOf": [
                {"title": "as a string", "type": "string", "pattern": ITEM_ID_PATTERN,
                 "example": "123"},
                {"title": "as a number", "type": "integer", "minimum": 1,
                 "maximum": MAX_ITEM_ID, "example": 123},
            ],
        },
        "numberOfItems": {**QUANTITY, "example": 2,
                          "description": "How many units of the item: a JSON number."},
        LEGACY_QUANTITY_KEY: {**QUANTITY, "deprecated": True,
                              "description": "The same as numberOfItems, under the key (with "
                                             "its colon) that GianTigle 1.0 clients send."},
    },
    "required": ["ItemID"],
    "oneOf": [
        {"title": "with numberOfItems", "required": ["numberOfItems"],
         "description": "The quantity under numberOfItems."},
        {"title": f"with {LEGACY_QUANTITY_KEY}", "required": [LEGACY_QUANTITY_KEY],
         "description": "The quantity under the legacy key."},
    ],
}


@extend_schema_field(PURCHASE_ITEM, component_name="PurchaseItem")
class PurchaseItemField(serializers.JSONField):
    """A receipt line; a plain serializer cannot name a key with a colon in it."""


class PurchaseBodySerializer(serializers.Serializer):
    items = serializers.ListField(
        child=PurchaseItemField(), min_length=1, max_length=MAX_ITEMS,
        help_text=f"What was bought: 1 to {MAX_ITEMS} lines. The same item may appear on "
                  f"several lines; their quantities add up.",
    )


class PurchaseCreatedSerializer(serializers.Serializer):
    message = serializers.CharField(help_text="Always \"purchase accepted\".")
    purchaseID = serializers.UUIDField(
        help_text="The purchase's ID. A retry with the same Idempotency-Key returns it again.")


class MessageSerializer(serializers.Serializer):
    message = serializers.CharField(
        help_text="What went wrong; for a refused field it starts with the field's name.")


class TopItemSerializer(serializers.Serializer):
    itemID = serializers.IntegerField()
    numberOfItems = serializers.IntegerField(help_text="Units of the item the store sold.")


class TopItemsSerializer(serializers.Serializer):
    # "stores" is the seed's key for this list too; kept for its clients.
    stores = TopItemSerializer(many=True, help_text="Most units first; ties by the lower itemID.")


class TopStoreSerializer(serializers.Serializer):
    storeID = serializers.IntegerField()
    numberOfItems = serializers.IntegerField(help_text="Units of the item the store sold.")


class TopStoresSerializer(serializers.Serializer):
    stores = TopStoreSerializer(many=True,
                                help_text="Most units first; ties by the lower storeID.")


class DependencyHealthSerializer(serializers.Serializer):
    status = serializers.CharField(help_text='"ok", "down", or "unused" (the broker in sync '
                                             'mode).')
    error = serializers.CharField(required=False, help_text="Why it is down.")


class AnalyticsHealthSerializer(serializers.Serializer):
    status = serializers.CharField(help_text='"ok" when at least one replica is serving, '
                                             'else "down".')
    replicas = serializers.DictField(child=serializers.CharField(),
                                     help_text="Each replica's address and its state.")


class HealthSerializer(serializers.Serializer):
    status = serializers.CharField(help_text='"ok" or "unavailable".')
    mode = serializers.CharField(help_text='"queue" or "sync": where a purchase goes first.')
    database = DependencyHealthSerializer()
    broker = DependencyHealthSerializer()
    analytics = AnalyticsHealthSerializer()


class ReadsHealthSerializer(serializers.Serializer):
    status = serializers.CharField(help_text='"ok" or "unavailable".')
    analytics = AnalyticsHealthSerializer()


def _path_id(name: str, what: str, low: int, high: int) -> OpenApiParameter:
    # `what` names the field as the API's error messages do (storeID, custID, itemID).
    return OpenApiParameter(
        name, {"type": "integer", "minimum": low, "maximum": high,
               "format": "int64" if high > 2**31 else "int32"},
        OpenApiParameter.PATH, required=True, description=f"{what}: {low} to {high}.")


def _message(name: str, description: str, example: str) -> OpenApiResponse:
    return OpenApiResponse(MessageSerializer, description=description, examples=[
        OpenApiExample(name, {"message": example}, response_only=True)])


def _retry_after(*statuses: int) -> OpenApiParameter:
    return OpenApiParameter("Retry-After", int, OpenApiParameter.HEADER, response=list(statuses),
                            description="Seconds to wait before trying again.")


purchase_create_schema = extend_schema(
    operation_id="writeNewPurchase",
    summary="Record a purchase",
    description=(
        "Records what a customer bought in a store on a day. A 201 means the purchase is "
        "stored and will appear in the rankings within moments; any 4xx means nothing was "
        "recorded. After a 503, a timeout or a lost connection the outcome is unknown: send "
        "the same request again with the same Idempotency-Key, and it is recorded once."
    ),
    tags=["purchases"],
    parameters=[
        _path_id("storeID", "The store's ID", 1, MAX_STORE_ID),
        _path_id("custID", "The customer's ID", 0, MAX_CUSTOMER_ID),
        OpenApiParameter(
            "date", {"type": "string", "pattern": DATE_PATTERN, "example": "20210101"},
            OpenApiParameter.PATH, required=True,
            description="The day of the purchase as YYYYMMDD: a real calendar day from the "
                        "year 1000 on (20210229 is refused, 20240229 accepted)."),
        OpenApiParameter(
            "Idempotency-Key", {"type": "string", "minLength": 1, "maxLength": 255,
                                "pattern": "^[\\x20-\\x7e]+$"},
            OpenApiParameter.HEADER,
            description="Optional; 1 to 255 printable ASCII characters, unique per purchase "
                        "(a UUID will do). The same request (path and body byte for byte) "
                        "repeated with the same key within 24 hours returns the first "
                        "purchaseID and records nothing new; another request with that key "
                        "gets a 422. Send the header once."),
        _retry_after(409, 503),
    ],
    request={"application/json": PurchaseBodySerializer},
    examples=[
        OpenApiExample(
            "Two items", request_only=True,
            value={"items": [{"ItemID": "123", "numberOfItems": 2},
                             {"ItemID": 77, "numberOfItems": 1}]}),
        OpenApiExample(
            "GianTigle 1.0 client", request_only=True,
            value={"items": [{"ItemID": "123", LEGACY_QUANTITY_KEY: 2}]}),
    ],
    responses={
        201: OpenApiResponse(PurchaseCreatedSerializer, description="Recorded.", examples=[
            OpenApiExample("Recorded", response_only=True, status_codes=[201], value={
                "message": "purchase accepted",
                "purchaseID": "5f0c6e1e-3b7a-4a8e-9a51-2f6c1d0b7e42"})]),
        400: _message("Invalid field",
                      "A path part, the body or the Idempotency-Key is invalid.",
                      "items[0].numberOfItems: 0 is not an integer from 1 to 1000000000"),
        409: _message("In progress",
                      "A request with this Idempotency-Key is still being handled.",
                      "Idempotency-Key: a request with this key is in progress"),
        413: _message("Too large", f"The body is larger than {MAX_BODY // 1024} KiB.",
                      f"body: larger than {MAX_BODY} bytes"),
        415: _message("Not JSON", "The Content-Type names something other than JSON in "
                      "utf-8 (none at all is taken as JSON).",
                      "Content-Type: 'text/plain' is not JSON; send application/json"),
        422: _message("Key reused", "This Idempotency-Key was used for a different purchase.",
                      "Idempotency-Key: already used for a different request"),
        503: _message("Unavailable",
                      "The purchase could not be stored right now; retry with the same "
                      "Idempotency-Key.",
                      "purchase not accepted: storage unavailable; retry later"),
    },
)


def _top(default: int) -> OpenApiParameter:
    return OpenApiParameter(
        "top", {"type": "integer", "minimum": 1, "maximum": MAX_TOP, "default": default},
        OpenApiParameter.QUERY, description=f"How many to return: 1 to {MAX_TOP}.")


def _ranking_errors(id_name: str) -> dict[int, OpenApiResponse]:
    return {
        400: _message("Invalid field", "The ID or top is not in range, or top is given twice.",
                      f"top: '0' is not an integer from 1 to {MAX_TOP}"),
        404: _message("No sales", "Nothing sold yet for that ID.", f"{id_name} 7: no sales"),
        503: _message("Unavailable", "The rankings cannot be reached right now; retry shortly.",
                      "analytics unavailable; retry later"),
    }


_RANKING_NOTE = " Counts include every purchase recorded up to a moment ago."

def _ranking_schema(operation_id: str, summary: str, what: str, path_id: OpenApiParameter,
                    default_top: int, reply: type, example: list[dict]):
    return extend_schema(
        operation_id=operation_id, summary=summary, tags=["rankings"],
        description=what + _RANKING_NOTE,
        parameters=[path_id, _top(default_top), _retry_after(503)],
        responses={200: OpenApiResponse(reply, description="The ranking.", examples=[
            OpenApiExample("Ranking", {"stores": example})]),
            **_ranking_errors(path_id.name)},
    )


top_items_schema = _ranking_schema(
    "getTopItems", "A store's best-selling items",
    "The items a store sold most units of, most first.",
    _path_id("storeID", "The store's ID", 1, MAX_STORE_ID), 10, TopItemsSerializer,
    [{"itemID": 7, "numberOfItems": 42}, {"itemID": 3, "numberOfItems": 17}])

top_stores_schema = _ranking_schema(
    "getTopStores", "The stores that sold most of an item",
    "The stores that sold most units of an item, most first.",
    _path_id("itemID", "The item's ID", 1, MAX_ITEM_ID), 5, TopStoresSerializer,
    [{"storeID": 1, "numberOfItems": 28}, {"storeID": 4, "numberOfItems": 9}])

health_schema = extend_schema(
    operation_id="getHealth", summary="Can this server take purchases?", tags=["health"],
    description="For load balancers: 200 when this server can record purchases, 503 when "
                "not. Rankings being unreachable shows in the answer but does not make it "
                "503.",
    responses={200: HealthSerializer,
               503: OpenApiResponse(HealthSerializer, description="Cannot record purchases.")},
)

reads_health_schema = extend_schema(
    operation_id="getReadsHealth", summary="Can this server answer rankings?", tags=["health"],
    description="For load balancers in front of servers that only answer the rankings: 200 "
                "when the rankings can be reached, 503 when not.",
    responses={200: ReadsHealthSerializer,
               503: OpenApiResponse(ReadsHealthSerializer, description="No rankings.")},
)
