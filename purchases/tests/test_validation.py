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


def test_leading_zeros_do_not_count_against_an_ids_length():
    event = parse(store="0" * 19 + "1", customer="0" * 30 + "7",
                  body=b'{"items": [{"ItemID": "' + b"0" * 25 + b'9", "numberOfItems": 1}]}')
    assert (event.store_id, event.customer_id, event.items) == (1, 7, ((9, 1),))


@pytest.mark.parametrize(("body", "message"), [
    (b'{"items": [{"ItemID": null, "numberOfItems": 1}]}',
     "items[0].ItemID: null is not an integer from 1 to"),
    (b'{"items": [{"ItemID": {"a": 1}, "numberOfItems": 1}]}',
     'items[0].ItemID: {"a": 1} is not an integer from 1 to'),
    (b'{"items": [{"ItemID": 1, "numberOfItems": null}]}',
     "items[0].numberOfItems: null is not an integer from 1 to"),
    (b'{"items": [{"ItemID": 1, "numberOfItems": NaN}]}',
     "body: is not valid JSON (NaN is not a JSON number)"),
    (b'{"items": [{"ItemID": 1, "numberOfItems": -Infinity}]}',
     "body: is not valid JSON (-Infinity is not a JSON number)"),
    (b'{"items": [{"ItemID": 1, "numberOfItems": 1e2}]}',
     "items[0].numberOfItems: 1E+2 is not an integer from 1 to"),
    (b'{"items": [{"ItemID": 1.5, "numberOfItems": 1}]}',
     "items[0].ItemID: 1.5 is not an integer from 1 to"),
    (b'{"items": [{"ItemID": 1, "numberOfItems": 1e400}]}',
     "items[0].numberOfItems: 1E+400 is not an integer from 1 to"),
    (b'{"items": [{"ItemID": [2.5], "numberOfItems": 1}]}',
     'items[0].ItemID: [2.5] is not an integer from 1 to'),
    (b'{"items": [{"ItemID": 1, "numberOfItems": ' + b"9" * 5000 + b"}]}",
     "body: holds a number too long to be one of ours"),
    (b'{"items": [{"ItemID": "\xff", "numberOfItems": 1}]}', "body: is not text in utf-8"),
    ('{"items": [{"ItemID": 1, "numberOfItems": 1}]}'.encode("utf-16"),
     "body: is not text in utf-8"),
])
def test_a_refusal_shows_the_value_as_the_client_wrote_it(body, message):
    """In JSON's words (null, not Python's None), and never Python's own advice."""
    with pytest.raises(InvalidPurchase) as error:
        parse(body=body)
    assert str(error.value).startswith(message)


@pytest.mark.parametrize(("body", "message"), [
    (b'{"items": [{"ItemID": 1, "numberOfItems": 1}], "items": []}',
     'body: "items" is given twice in one object'),
    (b'{"items": [{"ItemID": 1, "ItemID": 2, "numberOfItems": 1}]}',
     'body: "ItemID" is given twice in one object'),
    (b'{"items": [{"ItemID": 1, "numberOfItems": 1, "numberOfItems:": 5}]}',
     'items[0].numberOfItems: is given twice, as "numberOfItems" and "numberOfItems:"'),
])
def test_a_purchase_that_says_one_thing_twice_is_refused(body, message):
    """Python's json would keep the last and record what its sender may not have meant."""
    with pytest.raises(InvalidPurchase) as error:
        parse(body=body)
    assert str(error.value) == message


def test_a_utf8_byte_order_mark_is_let_pass():
    assert parse(body=b"\xef\xbb\xbf" + GOOD).items == ((123, 2),)
