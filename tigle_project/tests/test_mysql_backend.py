import datetime
import uuid

import pytest
from django.db import connection, transaction
from django.db.backends.mysql import compiler as django_mysql
from django.db.models import F, Value
from django.db.models.sql import InsertQuery

from purchases.models import Purchase, PurchaseItem
from tigle_project.mysql_backend import compiler as ours

NOW = datetime.datetime(2021, 1, 1, 9, 30, tzinfo=datetime.timezone.utc)


def purchases(n):
    return [Purchase(purchase_id=uuid.uuid4(), store_id=store, customer_id=store * 1000 + 7,
                     date=datetime.date(2021, 1, 1), created_at=NOW) for store in range(1, n + 1)]


@pytest.fixture
def per_value_path_closed(monkeypatch):
    """The worker's rows must not ask each value for its placeholder (Django's slow path)."""
    def asked(*args):
        raise AssertionError("a value was compiled one by one")

    monkeypatch.setattr(ours.SQLInsertCompiler, "field_as_sql", asked)


def both_compiled(model, objs, returning=None):
    fields = [f for f in model._meta.concrete_fields if f is not model._meta.pk]
    query = InsertQuery(model)
    query.insert_values(fields, objs, raw=True)
    compiled = []
    for compiler_class in (ours.SQLInsertCompiler, django_mysql.SQLInsertCompiler):
        compiler = compiler_class(query, connection, "default")
        compiler.returning_fields = returning
        compiled.append(compiler.as_sql())
    return compiled


def test_the_database_runs_on_tigles_mysql_backend():
    assert connection.ops.compiler("SQLInsertCompiler") is ours.SQLInsertCompiler
    assert connection.vendor == "mysql"


# The compilers ask the server whether it is MariaDB (which has RETURNING).
@pytest.mark.django_db
@pytest.mark.parametrize("returning", [None, [Purchase._meta.pk]])
def test_a_bulk_insert_compiles_to_the_sql_and_parameters_django_writes(
        returning, per_value_path_closed):
    fast, django = both_compiled(Purchase, purchases(3), returning)
    assert fast == django
    sql, params = fast[0]
    assert sql.count("%s") == len(params) == 3 * 5


def test_item_rows_compile_as_django_writes_them(per_value_path_closed):
    items = [PurchaseItem(purchase_id=n, item_id=100 + n, quantity=n % 3 + 1) for n in range(1, 8)]
    fast, django = both_compiled(PurchaseItem, items)
    assert fast == django


@pytest.mark.django_db
def test_rows_with_an_expression_are_written_the_way_django_writes_them():
    purchase = purchases(1)[0]
    purchase.save()
    PurchaseItem.objects.bulk_create([
        PurchaseItem(purchase=purchase, item_id=1, quantity=2),
        PurchaseItem(purchase=purchase, item_id=2, quantity=Value(3) * 2),
    ])
    assert list(purchase.items.order_by("item_id").values_list("item_id", "quantity")) == [
        (1, 2), (2, 6)]


@pytest.mark.django_db
def test_an_expression_that_names_a_column_is_refused_as_django_refuses_it():
    purchase = purchases(1)[0]
    purchase.save()
    with pytest.raises(ValueError, match="F\\(\\) expressions"), transaction.atomic():
        PurchaseItem.objects.bulk_create(
            [PurchaseItem(purchase=purchase, item_id=1, quantity=F("item_id"))])
    assert not PurchaseItem.objects.exists()
