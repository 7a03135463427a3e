"""MySQL's SQL compilers, with a bulk insert that writes each row's placeholders once.

Django asks every value of a bulk insert for its placeholder (field_as_sql: expression or
not, field-made placeholder or not). A worker batch of 500 purchases is 3,000 rows and
10,000 values, and that question was a quarter of the worker's CPU. When no field makes
its own placeholder and every value is a plain parameter, the answer is "%s" and the value
itself, for all of them; anything else (an expression, a spatial field, a default-only
row) takes Django's own path.
"""
from __future__ import annotations

import datetime
import decimal
import uuid

from django.db.backends.mysql import compiler as mysql

SQLCompiler = mysql.SQLCompiler
SQLDeleteCompiler = mysql.SQLDeleteCompiler
SQLUpdateCompiler = mysql.SQLUpdateCompiler
SQLAggregateCompiler = mysql.SQLAggregateCompiler

# What get_db_prep_save hands the driver for plain fields on MySQL.
PLAIN_PARAMETERS = frozenset({
    int, float, str, bytes, bool, type(None), decimal.Decimal,
    datetime.date, datetime.datetime, datetime.time, datetime.timedelta,
    uuid.UUID,  # MariaDB 10.7+ stores UUIDField natively
})


class SQLInsertCompiler(mysql.SQLInsertCompiler):
    def assemble_as_sql(self, fields, value_rows):
        if (value_rows
                and all(field is not None and getattr(field, "get_placeholder", None) is None
                        for field in fields)
                and all(type(value) in PLAIN_PARAMETERS for row in value_rows for value in row)):
            row = ("%s",) * len(fields)
            return [row] * len(value_rows), value_rows
        return super().assemble_as_sql(fields, value_rows)
