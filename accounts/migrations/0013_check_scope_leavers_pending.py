"""A report's leaver becomes a reported status (left at any as-of date), runs record their
scope, and database triggers mark the shared mailboxes and homes that links and mailboxes
changed, so the nightly check recomputes only those (accounts.checks)."""

from django.db import migrations, models
from django.db.models import Exists, OuterRef

# PostgreSQL: links are marked per statement (an import writes a million at once), the rare
# mailbox writes per row.
PG_TRIGGERS = """
CREATE FUNCTION accounts_links_marked() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO accounts_pendingcheck (mailbox_id) SELECT DISTINCT mailbox_id FROM new_links;
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        INSERT INTO accounts_pendingcheck (mailbox_id) SELECT DISTINCT mailbox_id FROM old_links;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER accounts_links_inserted AFTER INSERT ON accounts_mailboxlink
    REFERENCING NEW TABLE AS new_links FOR EACH STATEMENT EXECUTE FUNCTION accounts_links_marked();
CREATE TRIGGER accounts_links_deleted AFTER DELETE ON accounts_mailboxlink
    REFERENCING OLD TABLE AS old_links FOR EACH STATEMENT EXECUTE FUNCTION accounts_links_marked();
CREATE TRIGGER accounts_links_updated AFTER UPDATE ON accounts_mailboxlink
    REFERENCING OLD TABLE AS old_links NEW TABLE AS new_links
    FOR EACH STATEMENT EXECUTE FUNCTION accounts_links_marked();
CREATE FUNCTION accounts_mailbox_marked() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO accounts_pendingcheck (mailbox_id, home_id) VALUES (NEW.id, NEW.home_id);
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        INSERT INTO accounts_pendingcheck (home_id) VALUES (OLD.home_id);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER accounts_mailbox_added_or_removed AFTER INSERT OR DELETE
    ON accounts_sharedmailbox FOR EACH ROW EXECUTE FUNCTION accounts_mailbox_marked();
CREATE TRIGGER accounts_mailbox_moved AFTER UPDATE OF home_id ON accounts_sharedmailbox
    FOR EACH ROW WHEN (OLD.home_id IS DISTINCT FROM NEW.home_id)
    EXECUTE FUNCTION accounts_mailbox_marked();
"""
PG_DROP = """
DROP TRIGGER accounts_links_inserted ON accounts_mailboxlink;
DROP TRIGGER accounts_links_deleted ON accounts_mailboxlink;
DROP TRIGGER accounts_links_updated ON accounts_mailboxlink;
DROP TRIGGER accounts_mailbox_added_or_removed ON accounts_sharedmailbox;
DROP TRIGGER accounts_mailbox_moved ON accounts_sharedmailbox;
DROP FUNCTION accounts_links_marked();
DROP FUNCTION accounts_mailbox_marked();
"""
SQLITE_TRIGGERS = [
    """CREATE TRIGGER accounts_links_inserted AFTER INSERT ON accounts_mailboxlink BEGIN
        INSERT INTO accounts_pendingcheck (mailbox_id) VALUES (NEW.mailbox_id); END""",
    """CREATE TRIGGER accounts_links_deleted AFTER DELETE ON accounts_mailboxlink BEGIN
        INSERT INTO accounts_pendingcheck (mailbox_id) VALUES (OLD.mailbox_id); END""",
    """CREATE TRIGGER accounts_links_updated AFTER UPDATE ON accounts_mailboxlink BEGIN
        INSERT INTO accounts_pendingcheck (mailbox_id) VALUES (OLD.mailbox_id), (NEW.mailbox_id);
        END""",
    """CREATE TRIGGER accounts_mailbox_added AFTER INSERT ON accounts_sharedmailbox BEGIN
        INSERT INTO accounts_pendingcheck (mailbox_id, home_id) VALUES (NEW.id, NEW.home_id); END""",
    """CREATE TRIGGER accounts_mailbox_removed AFTER DELETE ON accounts_sharedmailbox BEGIN
        INSERT INTO accounts_pendingcheck (home_id) VALUES (OLD.home_id); END""",
    """CREATE TRIGGER accounts_mailbox_moved AFTER UPDATE OF home_id ON accounts_sharedmailbox
        WHEN OLD.home_id IS NOT NEW.home_id BEGIN
        INSERT INTO accounts_pendingcheck (mailbox_id, home_id) VALUES (NEW.id, NEW.home_id),
            (NULL, OLD.home_id); END""",
]
SQLITE_NAMES = ["accounts_links_inserted", "accounts_links_deleted", "accounts_links_updated",
                "accounts_mailbox_added", "accounts_mailbox_removed", "accounts_mailbox_moved"]  # fmt: skip


def create_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_TRIGGERS)
    else:
        for sql in SQLITE_TRIGGERS:
            schema_editor.execute(sql)
    # Changes made before the triggers existed are unknown: the next run takes every mailbox.
    schema_editor.execute(
        "INSERT INTO accounts_pendingcheck (mailbox_id, home_id) "
        "SELECT id, home_id FROM accounts_sharedmailbox"
    )


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_DROP)
    else:
        for name in SQLITE_NAMES:
            schema_editor.execute(f"DROP TRIGGER {name}")


def leavers_from_reports(apps, schema_editor):
    """An import wrote a leaver as left_on = the import's date, by bulk SQL that leaves no
    history row; a date a manager (or the admin) recorded was saved with one. The former
    become the report's status, left at any as-of date."""
    StaffAccount = apps.get_model("accounts", "StaffAccount")
    history = apps.get_model("accounts", "HistoricalStaffAccount").objects
    by_hand = history.filter(id=OuterRef("pk"), left_on=OuterRef("left_on"))
    StaffAccount.objects.filter(left_on__isnull=False).exclude(Exists(by_hand)).update(
        reported_status="leaver", left_on=None
    )


def leavers_back(apps, schema_editor):
    from accounts.rules import london_today

    StaffAccount = apps.get_model("accounts", "StaffAccount")
    StaffAccount.objects.filter(reported_status="leaver").update(
        reported_status="active", left_on=london_today()
    )


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0012_digest_schedule'),
    ]

    operations = [
        migrations.CreateModel(
            name='PendingCheck',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('mailbox_id', models.IntegerField(null=True)),
                ('home_id', models.IntegerField(null=True)),
            ],
        ),
        migrations.AddField(
            model_name='checkrun',
            name='full',
            field=models.BooleanField(db_default=False, help_text='Every mailbox and home recomputed, not only those touched.'),
        ),
        migrations.AddField(
            model_name='checkrun',
            name='scope_homes',
            field=models.PositiveIntegerField(blank=True, help_text='How many homes were checked; empty for every home.', null=True),
        ),
        migrations.AlterField(
            model_name='checkrun',
            name='trigger',
            field=models.CharField(choices=[('beat', 'Nightly schedule'), ('command', 'Command'), ('admin', 'Admin'), ('action', "A manager's action (one home)"), ('import', 'An import (its homes)')], max_length=10),
        ),
        migrations.AlterField(
            model_name='historicalstaffaccount',
            name='reported_status',
            field=models.CharField(choices=[('active', 'Active'), ('disabled', 'Disabled'), ('deleted', 'Deleted'), ('leaver', 'Left (the report says so)')], default='active', max_length=10),
        ),
        migrations.AlterField(
            model_name='staffaccount',
            name='reported_status',
            field=models.CharField(choices=[('active', 'Active'), ('disabled', 'Disabled'), ('deleted', 'Deleted'), ('leaver', 'Left (the report says so)')], default='active', max_length=10),
        ),
        migrations.RunPython(leavers_from_reports, leavers_back),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
