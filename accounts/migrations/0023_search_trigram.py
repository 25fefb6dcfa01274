"""The admin dashboard's search (HomeFilter: ODS code or name containing the words, any
case) through trigram indexes on PostgreSQL, which Django's icontains (UPPER(col) LIKE
UPPER('%q%')) can use. SQLite has no such index and keeps its scan. The email prefix uses
the email column's varchar_pattern_ops index that Django already made."""

from django.db import migrations

INDEXES = {
    "accounts_carehome_name_trgm": "UPPER(name::text) gin_trgm_ops",
    "accounts_carehome_ods_code_trgm": "UPPER(ods_code::text) gin_trgm_ops",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, expression in INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON accounts_carehome USING gin ({expression})"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0022_clear_impossible_dates"),
    ]

    operations = [migrations.RunPython(create, drop)]
