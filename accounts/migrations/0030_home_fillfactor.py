"""PostgreSQL: room on each care-home page for a second copy of its rows, so that the
nightly check's mark (checked_as_of, on every home every night) rewrites a home in place
(HOT) rather than moving it and writing an entry into each of its seven indexes, two of
them trigram GIN indexes: 0.72-0.89 s of a 3.8-4.1 s next-day check at 41,095 homes
(README: "The check at national scale"). The accounts table has the same room (0019).
Pages written before this fill up as rows move; VACUUM FULL makes the room at once."""

from django.db import migrations


def _alter(storage: str):
    """ALTER TABLE accounts_carehome with `storage`, on PostgreSQL only."""

    def alter(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"ALTER TABLE accounts_carehome {storage}")

    return alter


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0029_change_run_brin"),
    ]

    operations = [
        migrations.RunPython(_alter("SET (fillfactor = 45)"), _alter("RESET (fillfactor)"))
    ]
