"""Idempotency keys move from Django's database cache to a table of their own.

The cache counted its whole table on every write and never deleted a key it was not asked
for again, so it grew by one row per keyed purchase for good. The records of the last day
are carried over, so a retry across the upgrade still finds its key; locks are not (an
attempt running across a migration is retried by its client). Then the old table goes.
"""
import base64
import datetime
import pickle
import re

from django.db import migrations, models
from django.utils import timezone

OLD_TABLE = "tigle_idempotency"
RECORD_KEY = re.compile(r":idem:([0-9a-f]{64})$")  # the cache's "<prefix>:<version>:idem:<sha256>"
BATCH = 1000


def _aware(value) -> datetime.datetime:
    return timezone.make_aware(value, datetime.timezone.utc) if timezone.is_naive(value) else value


def records_carry_over(apps, schema_editor):
    connection = schema_editor.connection
    if OLD_TABLE not in connection.introspection.table_names():
        return
    IdempotencyKey = apps.get_model("purchases", "IdempotencyKey")
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    select = (f"SELECT cache_key, value, expires FROM {schema_editor.quote_name(OLD_TABLE)}"
              " WHERE cache_key > %s AND expires > %s ORDER BY cache_key")
    after = ""
    with connection.cursor() as cursor:
        while True:  # in pages by key: the old table may hold many days of rows
            cursor.execute(f"{select} LIMIT {BATCH}", [after, now])
            rows = cursor.fetchall()
            keys = []
            for cache_key, value, expires in rows:
                found = RECORD_KEY.search(cache_key)
                if found is None:  # a lock: it ended with its attempt
                    continue
                # Written by this project's own cache backend, in its own database.
                record = pickle.loads(base64.b64decode(value))
                keys.append(IdempotencyKey(
                    key_hash=found.group(1), fingerprint=record["fp"], purchase_id=record["id"],
                    done=record["done"], expires=_aware(expires)))
            IdempotencyKey.objects.bulk_create(keys, ignore_conflicts=True)
            if len(rows) < BATCH:
                return
            after = rows[-1][0]


def old_table_drop(apps, schema_editor):
    schema_editor.execute(f"DROP TABLE IF EXISTS {schema_editor.quote_name(OLD_TABLE)}")


def old_table_create(apps, schema_editor):
    from django.core.management import call_command

    call_command("createcachetable", OLD_TABLE, database=schema_editor.connection.alias,
                 verbosity=0)


class Migration(migrations.Migration):

    dependencies = [
        ('purchases', '0003_analytics_backlog'),
    ]

    operations = [
        migrations.CreateModel(
            name='IdempotencyKey',
            fields=[
                ('key_hash', models.CharField(max_length=64, primary_key=True, serialize=False)),
                ('fingerprint', models.CharField(max_length=64)),
                ('purchase_id', models.UUIDField()),
                ('done', models.BooleanField(default=False)),
                ('holder', models.UUIDField(null=True)),
                ('held_until', models.DateTimeField(null=True)),
                ('expires', models.DateTimeField(db_index=True)),
            ],
        ),
        migrations.RunPython(records_carry_over, migrations.RunPython.noop),
        # DDL: MySQL cannot run it inside the transaction RunPython opens by default.
        migrations.RunPython(old_table_drop, old_table_create, atomic=False),
    ]
