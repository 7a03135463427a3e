import datetime
import json

import pytest

from purchases.validation import InvalidPurchase, purchase_parse

GOOD = json.dumps({"items": [{"ItemID": "123", "numberOfItems": 2}]}).encode()


def parse(store="5", customer="5123", date="20210101", body=GOOD):
    return purchase_parse(store_id=store, customer_id=customer, date=date, body=body)


def test_it_parses_a_good_purchase():
    event = parse()
    assert (event.store_id, event.customer_id, event.date) == (5, 5123, datetime.date(2021, 1, 1))
    assert event.items == ((123, 2),)
    assert len(event.id) == 36


def test_it_accepts_the_legacy_quantity_key_and_numeric_item_ids():
    body = json.dumps({"items": [{"ItemID": 7, "numberOfItems:": 3}]}).encode()
    assert parse(body=body).items == ((7, 3),)


def test_it_accepts_customer_zero_and_a_leap_day():
    event = parse(customer="0", date="20240229")
    assert (event.customer_id, event.date) == (0, datetime.date(2024, 2, 29))


def test_it_accepts_a_hundred_items():
    body = json.dumps({"items": [{"ItemID": i, "numberOfItems": 1} for i in range(1, 101)]})
    assert len(parse(body=body.encode()).items) == 100


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("storeID", {"store": "0"}),
        ("storeID", {"store": "-1"}),
        ("storeID", {"store": "١٢"}),
        ("custID", {"customer": "5.5"}),
        ("date", {"date": "20211301"}),
        ("date", {"date": "２０２１０１０１"}),
        ("date", {"date": "09991231"}),
        ("body", {"body": b"[" * 60_000}),
        ("items[0].ItemID", {"body": b'{"items": [{"ItemID": true, "numberOfItems": 1}]}'}),
        ("items[0].numberOfItems", {"body": b'{"items": [{"ItemID": 1, "numberOfItems": "2"}]}'}),
        ("items[0].numberOfItems", {"body": b'{"items": [{"ItemID": 1, "numberOfItems": true}]}'}),
        ("items[0]", {"body": b'{"items": [5]}'}),
        ("body", {"body": b'\xff\xfe'}),
    ],
)
def test_it_names_the_field_it_refuses(field, kwargs):
    with pytest.raises(InvalidPurchase) as error:
        parse(**kwargs)
    assert str(error.value).startswith(field)
