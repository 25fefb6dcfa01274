"""PostgreSQL: accounts' emails compare byte by byte (collation "C"), and the email's second
index goes.

Django gives a unique text column two B-trees: the unique one, and a varchar_pattern_ops
copy so that a prefix search (the dashboard's email search: email LIKE 'q%') can use an
index under a language collation. Under "C" the unique index serves the prefix search
itself, so the copy is only a cost: one more entry to write for every account inserted
and for every account whose disable date moves, which at a first national check is every
account (about 2 s of its 1.5 million-row update; README: "The check at national scale").
Emails are stored in lower case, so byte order is the order they were listed in before.
SQLite compares bytes already and has no such index.
"""

from django.db import migrations

LIKE_INDEX = "accounts_staffaccount_email_4fead21c_like"


def bytewise(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        'ALTER TABLE accounts_staffaccount ALTER COLUMN email TYPE varchar(254) COLLATE "C"'
    )
    schema_editor.execute(f"DROP INDEX IF EXISTS {LIKE_INDEX}")


def by_language(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        'ALTER TABLE accounts_staffaccount ALTER COLUMN email TYPE varchar(254) COLLATE "default"'
    )
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {LIKE_INDEX} ON accounts_staffaccount "
        "(email varchar_pattern_ops)"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0029_change_run_brin"),
    ]

    operations = [migrations.RunPython(bytewise, by_language)]
