"""Validate a purchase request into a PurchaseEvent. Standard library only, and fast.

Every rejection names the field and why, for the 400's message.
"""
from __future__ import annotations

import datetime
import json
from decimal import Decimal

from purchases.events import (
    MAX_CUSTOMER_ID,
    MAX_ITEM_ID,
    MAX_ITEMS,
    MAX_QUANTITY,
    MAX_STORE_ID,
    PurchaseEvent,
    event_new,
)

# The published GianTigle schema's key, with its stray colon; its generated client sends it.
LEGACY_QUANTITY_KEY = "numberOfItems:"
# Digits an ID may have once leading zeros are dropped: more cannot be in any range here.
MAX_DIGITS = 19
SHOWN_CHARS = 40


class InvalidPurchase(ValueError):
    """The request is not a valid purchase; the text says which field and why."""


def _shown(value: object) -> str:
    """A body's value as the client wrote it (JSON: null, not None), cut short."""
    try:
        # A fraction or exponent is read as a Decimal (_DECODER): 1e2 stays 1E+2, not 100.0,
        # and 1e400 is not Python's Infinity.
        text = str(value) if isinstance(value, Decimal) else json.dumps(value, default=float)
    except ValueError:  # nested too deeply to show
        text = "..."
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS - 3] + "..."


def plain_digits(text: str) -> bool:
    """Plain ASCII digits, few enough (leading zeros aside) to be an ID. str.isdigit()
    alone takes "²" and "①", which int() refuses, and "١", which it reads as 1."""
    return text.isascii() and text.isdigit() and len(text.lstrip("0")) <= MAX_DIGITS


def path_int(raw: str, name: str, low: int, high: int) -> int:
    # Only plain ASCII digits (and a leading minus, to say why it is refused).
    if not plain_digits(raw[1:] if raw.startswith("-") else raw):
        raise InvalidPurchase(f"{name}: {raw!r} is not an integer from {low} to {high}")
    value = int(raw)
    if not low <= value <= high:
        raise InvalidPurchase(f"{name}: {raw!r} is not an integer from {low} to {high}")
    return value


def _path_date(raw: str) -> datetime.date:
    if len(raw) != 8 or not raw.isascii() or not raw.isdigit():
        raise InvalidPurchase(f"date: {raw!r} is not a date as YYYYMMDD")
    if not "1000" <= raw[:4]:
        # MySQL's DATE starts at year 1000; an earlier day would be accepted, then refused.
        raise InvalidPurchase(f"date: {raw!r} is before the year 1000")
    try:
        return datetime.date(int(raw[:4]), int(raw[4:6]), int(raw[6:]))
    except ValueError:
        raise InvalidPurchase(f"date: {raw!r} is not a real calendar day") from None


def _body_int(value: object, field: str, low: int, high: int) -> int:
    # ItemID comes as a string in the seed's schema; a JSON number is accepted too.
    if isinstance(value, str) and plain_digits(value):
        value = int(value)
    if type(value) is not int or not low <= value <= high:
        raise InvalidPurchase(f"{field}: {_shown(value)} is not an integer from {low} to {high}")
    return value


def _items(body: object) -> list[tuple[int, int]]:
    if not isinstance(body, dict):
        raise InvalidPurchase("body: must be a JSON object with an \"items\" list")
    items = body.get("items")
    if not isinstance(items, list):
        raise InvalidPurchase("items: must be a list of {\"ItemID\", \"numberOfItems\"} objects")
    if not 1 <= len(items) <= MAX_ITEMS:
        raise InvalidPurchase(f"items: must hold 1 to {MAX_ITEMS} items, not {len(items)}")
    parsed = []
    for index, item in enumerate(items):
        where = f"items[{index}]"
        if not isinstance(item, dict):
            raise InvalidPurchase(f"{where}: must be an object")
        if "ItemID" not in item:
            raise InvalidPurchase(f"{where}.ItemID: is missing")
        item_id = _body_int(item["ItemID"], f"{where}.ItemID", 1, MAX_ITEM_ID)
        if "numberOfItems" in item:
            if LEGACY_QUANTITY_KEY in item:
                raise InvalidPurchase(f"{where}.numberOfItems: is given twice, as "
                                      f"\"numberOfItems\" and \"{LEGACY_QUANTITY_KEY}\"")
            quantity = item["numberOfItems"]
        elif LEGACY_QUANTITY_KEY in item:
            quantity = item[LEGACY_QUANTITY_KEY]
        else:
            raise InvalidPurchase(f"{where}.numberOfItems: is missing")
        if isinstance(quantity, str):
            raise InvalidPurchase(
                f"{where}.numberOfItems: {_shown(quantity)} must be a JSON number")
        parsed.append(
            (item_id, _body_int(quantity, f"{where}.numberOfItems", 1, MAX_QUANTITY))
        )
    return parsed


class _NotJson(ValueError):
    pass


def _not_a_number(constant: str) -> None:
    # Python's json reads NaN and Infinity, which JSON does not have.
    raise _NotJson(f"{constant} is not a JSON number")


class _KeyTwice(ValueError):
    pass


def _object(pairs: list[tuple[str, object]]) -> dict:
    # JSON leaves a repeated key to the reader (RFC 8259, 4); Python's keeps the last, which
    # would take {"items": [...], "items": []} as a different purchase than its sender meant.
    made = dict(pairs)
    if len(made) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _KeyTwice(key)
            seen.add(key)
    return made


# Made once: json.loads with a hook of its own would build a decoder per call.
_DECODER = json.JSONDecoder(parse_constant=_not_a_number, object_pairs_hook=_object,
                            parse_float=Decimal)


def purchase_parse(
    *, store_id: str, customer_id: str, date: str, body: bytes, purchase_id: str | None = None
) -> PurchaseEvent:
    """Turn the raw path parts and body into an event, or raise InvalidPurchase."""
    store = path_int(store_id, "storeID", 1, MAX_STORE_ID)
    customer = path_int(customer_id, "custID", 0, MAX_CUSTOMER_ID)
    day = _path_date(date)
    if not body.strip():
        raise InvalidPurchase("body: is empty; expected {\"items\": [...]}")
    try:
        # JSON on the wire is utf-8 (RFC 8259), a byte order mark let pass.
        decoded = _DECODER.decode(body.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise InvalidPurchase("body: is not text in utf-8") from None
    except _KeyTwice as exc:
        raise InvalidPurchase(f"body: {_shown(exc.args[0])} is given twice in one object") from None
    except (json.JSONDecodeError, _NotJson) as exc:
        raise InvalidPurchase(f"body: is not valid JSON ({exc})") from None
    except ValueError:  # Python's cap on an integer's digits
        raise InvalidPurchase("body: holds a number too long to be one of ours") from None
    except RecursionError:
        raise InvalidPurchase("body: JSON nested too deeply") from None
    return event_new(
        store_id=store, customer_id=customer, date=day, items=_items(decoded),
        purchase_id=purchase_id,
    )
