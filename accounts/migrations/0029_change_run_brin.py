"""PostgreSQL: the events' run index becomes a BRIN index of the same name.

Events are only ever appended, run after run, so their run ids follow the table's physical
order and a block-range index finds a run's events (a run's page, the alerts' "since the
last national run", a run's cascade delete) by reading only the ranges that hold it. A
B-tree over the run id cost every event an index entry: 1.1-1.4 s of the first national
check's 1.5 million events (README: "The check at national scale"). The model keeps its
plain index (SQLite has no BRIN); the name stays, so Django finds it if the field changes.
"""

from django.db import migrations

NAME = "accounts_statechange_run_id_77356880"


def to_brin(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX IF EXISTS {NAME}")
    schema_editor.execute(
        f"CREATE INDEX {NAME} ON accounts_statechange USING brin (run_id) "
        "WITH (autosummarize = on)"
    )


def to_btree(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX IF EXISTS {NAME}")
    schema_editor.execute(f"CREATE INDEX {NAME} ON accounts_statechange (run_id)")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0028_account_home_disable_index"),
    ]

    operations = [migrations.RunPython(to_brin, to_btree)]
