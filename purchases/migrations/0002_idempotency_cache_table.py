"""The database-backed idempotency cache, used when REDIS_URL is not set."""
from django.core.management import call_command
from django.db import migrations

TABLE = "tigle_idempotency"


def create_table(apps, schema_editor):
    call_command("createcachetable", TABLE, database=schema_editor.connection.alias, verbosity=0)


def drop_table(apps, schema_editor):
    schema_editor.execute(f"DROP TABLE IF EXISTS {schema_editor.quote_name(TABLE)}")


class Migration(migrations.Migration):
    dependencies = [("purchases", "0001_initial")]
    operations = [migrations.RunPython(create_table, drop_table)]
