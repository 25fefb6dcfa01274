"""Imports at scale: the tables a large import wrote are analysed before anything else plans
a statement on them; a small import leaves the statistics to autovacuum."""

import io

import pytest
from django.core.management import call_command
from django.db import connection, models
from django.test.utils import CaptureQueriesContext

from accounts.models import MailboxLink, SharedMailbox, StaffAccount

ACCOUNTS = "email,ods_code,display_name,status,last_activity,created,shared_mailboxes\n"


def _import_accounts(tmp_path, rows: int, *flags) -> list[str]:
    path = tmp_path / "accounts.csv"
    path.write_text(
        ACCOUNTS
        + "".join(
            f"person{n}@nhs.net,VM4Q7,Person {n},active,01/11/2026 09:00,,"
            "rosewood.carehome@nhs.net\n"
            for n in range(rows)
        )
    )
    with CaptureQueriesContext(connection) as queries:
        call_command("import_accounts", str(path), *flags, stdout=io.StringIO())
    return [q["sql"] for q in queries.captured_queries if q["sql"].startswith("ANALYZE accounts_")]


@pytest.mark.django_db
def test_a_large_import_analyses_the_tables_it_wrote(tmp_path, settings, rosewood_mailbox):
    settings.IMPORT_ANALYZE_ROWS = 20  # 10 accounts + 10 links
    analysed = _import_accounts(tmp_path, 10)
    assert StaffAccount.objects.count() == 10
    assert analysed, "a write of IMPORT_ANALYZE_ROWS rows must analyse the written tables"
    assert "accounts_staffaccount" in " ".join(analysed)
    assert "accounts_mailboxlink" in " ".join(analysed)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'accounts_staffaccount'")
            assert cursor.fetchone()[0] >= 10  # the planner now knows the rows are there


@pytest.mark.django_db
def test_a_small_import_or_an_unchanged_one_analyses_nothing(tmp_path, settings, rosewood_mailbox):
    settings.IMPORT_ANALYZE_ROWS = 21
    assert _import_accounts(tmp_path, 10) == []  # 20 rows written: under the setting
    settings.IMPORT_ANALYZE_ROWS = 1
    assert _import_accounts(tmp_path, 10) == []  # the same file again writes nothing


@pytest.mark.django_db
def test_a_dry_run_analyses_nothing(tmp_path, settings, rosewood_mailbox):
    settings.IMPORT_ANALYZE_ROWS = 1
    assert _import_accounts(tmp_path, 10, "--dry-run") == []
    assert StaffAccount.objects.count() == 0


# The links table has no database-level foreign keys (bench/imports.py: their checks cost
# about two thirds of writing the links). Integrity rests on the engine and on Django.


@pytest.mark.django_db
def test_links_name_only_mailboxes_that_exist_in_the_same_home(tmp_path, rosewood, willow_mailbox):
    path = tmp_path / "accounts.csv"
    path.write_text(
        ACCOUNTS
        + "a@nhs.net,VM4Q7,A,active,01/11/2026 09:00,,nobody.here@nhs.net\n"
        + "b@nhs.net,VM4Q7,B,active,01/11/2026 09:00,,willow.court@nhs.net\n"
    )
    err = io.StringIO()
    with pytest.raises(SystemExit):
        call_command("import_accounts", str(path), stdout=io.StringIO(), stderr=err)
    assert "line 2: shared_mailboxes: no shared mailbox nobody.here@nhs.net" in err.getvalue()
    assert "line 3: shared_mailboxes: willow.court@nhs.net belongs to another home" in (
        err.getvalue()
    )
    assert not MailboxLink.objects.exists() and not StaffAccount.objects.exists()
    # Skipping the bad rows writes the accounts and still no link to nowhere.
    with pytest.raises(SystemExit):
        call_command(
            "import_accounts", str(path), "--skip-bad-rows", stdout=io.StringIO(), stderr=err
        )
    assert not MailboxLink.objects.exists()


@pytest.mark.django_db
def test_every_link_an_import_writes_joins_an_account_and_a_mailbox(tmp_path, rosewood_mailbox):
    _import_accounts(tmp_path, 10)
    assert MailboxLink.objects.count() == 10
    orphans = MailboxLink.objects.exclude(account__in=StaffAccount.objects.all()) | (
        MailboxLink.objects.exclude(mailbox__in=SharedMailbox.objects.all())
    )
    assert not orphans.exists()


@pytest.mark.django_db
def test_deleting_an_account_or_a_mailbox_still_removes_its_links(tmp_path, rosewood_mailbox):
    _import_accounts(tmp_path, 3)
    StaffAccount.objects.get(email="person0@nhs.net").delete()
    assert MailboxLink.objects.count() == 2
    rosewood_mailbox.delete()
    assert not MailboxLink.objects.exists()


@pytest.mark.django_db
def test_the_links_table_has_no_database_foreign_keys():
    with connection.cursor() as cursor:
        keys = connection.introspection.get_constraints(cursor, MailboxLink._meta.db_table)
    assert not [name for name, c in keys.items() if c["foreign_key"]]


@pytest.mark.django_db
def test_an_import_says_where_its_time_went(tmp_path, rosewood_mailbox):
    from accounts.imports.engine import run_import

    path = tmp_path / "accounts.csv"
    path.write_text(ACCOUNTS + "a@nhs.net,VM4Q7,A,active,01/11/2026 09:00,,\n")
    result = run_import("accounts", path)
    assert result.written
    assert set(result.seconds) == {"stage", "check", "write", "recheck"}
    assert all(value >= 0 for value in result.seconds.values())


@pytest.mark.django_db
def test_an_account_that_moves_touches_both_homes(tmp_path, rosewood_mailbox, willow_mailbox):
    """The recheck after an import judges the home an account left as well as the one it
    joined (the homes left come from the staged rows matched with their accounts)."""
    from accounts.imports.engine import run_import

    rosewood, willow = rosewood_mailbox.home, willow_mailbox.home
    path = tmp_path / "accounts.csv"
    path.write_text(ACCOUNTS + "a@nhs.net,VM4Q7,A,active,01/11/2026 09:00,,\n")
    assert run_import("accounts", path).home_ids == {rosewood.pk}
    path.write_text(ACCOUNTS + "a@nhs.net,VN8P2,A,active,01/11/2026 09:00,,\n")
    moved = run_import("accounts", path)
    assert (moved.updated, moved.home_ids) == (1, {rosewood.pk, willow.pk})
    path.write_text(ACCOUNTS + "a@nhs.net,VN8P2,A,active,02/11/2026 09:00,,\n")
    stayed = run_import("accounts", path)
    assert (stayed.updated, stayed.home_ids) == (1, {willow.pk})


@pytest.mark.django_db
@pytest.mark.parametrize("judged", [True, False], ids=["judged insert", "plain insert"])
def test_a_report_links_new_and_existing_accounts_by_its_lists_alone(
    tmp_path, monkeypatch, judged, rosewood_mailbox, willow_mailbox
):
    """New accounts are linked from the insert itself (PostgreSQL's judged insert) or by a
    statement of their own; existing ones through the staged rows they matched. Either way
    the links are exactly the file's lists, none across homes and none to nowhere, and the
    mailboxes whose links changed are marked for the next check."""
    from accounts.imports import engine
    from accounts.models import PendingCheck

    if not judged:
        monkeypatch.setattr(engine, "_judges_new_accounts", lambda: False)
    lounge = SharedMailbox.objects.create(
        home=rosewood_mailbox.home, email="rosewood.lounge@nhs.net"
    )
    path = tmp_path / "accounts.csv"
    path.write_text(
        ACCOUNTS
        + "stays@nhs.net,VM4Q7,S,active,01/11/2026 09:00,,rosewood.carehome@nhs.net\n"
        + "swaps@nhs.net,VM4Q7,W,active,01/11/2026 09:00,,rosewood.carehome@nhs.net\n"
        + "moves@nhs.net,VM4Q7,M,active,01/11/2026 09:00,,rosewood.lounge@nhs.net\n"
    )
    call_command("import_accounts", str(path), stdout=io.StringIO())
    PendingCheck.objects.all().delete()
    path.write_text(
        ACCOUNTS
        + "stays@nhs.net,VM4Q7,S,active,01/11/2026 09:00,,rosewood.carehome@nhs.net\n"
        + "swaps@nhs.net,VM4Q7,W,active,01/11/2026 09:00,,rosewood.lounge@nhs.net\n"
        + "moves@nhs.net,VN8P2,M,active,01/11/2026 09:00,,willow.court@nhs.net\n"
        + "new@nhs.net,VM4Q7,N,active,01/11/2026 09:00,,"
        + "rosewood.carehome@nhs.net;rosewood.lounge@nhs.net\n"
        + "bare@nhs.net,VN8P2,B,active,01/11/2026 09:00,,\n"
    )
    result = engine.run_import("accounts", path)
    assert result.written and (result.created, result.updated) == (2, 1)
    assert (result.links_added, result.links_removed) == (4, 2)
    links = set(MailboxLink.objects.values_list("account__email", "mailbox__email"))
    assert links == {
        ("stays@nhs.net", "rosewood.carehome@nhs.net"),
        ("swaps@nhs.net", "rosewood.lounge@nhs.net"),
        ("moves@nhs.net", "willow.court@nhs.net"),
        ("new@nhs.net", "rosewood.carehome@nhs.net"),
        ("new@nhs.net", "rosewood.lounge@nhs.net"),
    }
    assert MailboxLink.objects.filter(account__in=StaffAccount.objects.all()).count() == 5
    assert not MailboxLink.objects.exclude(account__home=models.F("mailbox__home")).exists()
    marked = set(PendingCheck.objects.values_list("mailbox_id", flat=True))
    assert {rosewood_mailbox.pk, lounge.pk, willow_mailbox.pk} <= marked
    # The same file again writes nothing.
    again = engine.run_import("accounts", path)
    assert (again.created, again.updated, again.links_added, again.links_removed) == (0, 0, 0, 0)


@pytest.mark.django_db
def test_a_report_without_mailboxes_unlinks_only_what_crosses_homes(
    tmp_path, rosewood_mailbox, willow_mailbox
):
    path = tmp_path / "accounts.csv"
    path.write_text(
        ACCOUNTS
        + "moves@nhs.net,VM4Q7,M,active,01/11/2026 09:00,,rosewood.carehome@nhs.net\n"
        + "stays@nhs.net,VM4Q7,S,active,01/11/2026 09:00,,rosewood.carehome@nhs.net\n"
    )
    call_command("import_accounts", str(path), stdout=io.StringIO())
    path.write_text("email,ods_code,display_name\nmoves@nhs.net,VN8P2,M\nstays@nhs.net,VM4Q7,S\n")
    from accounts.imports.engine import run_import

    result = run_import("accounts", path)
    assert (result.updated, result.links_added, result.links_removed) == (1, 0, 1)
    assert set(MailboxLink.objects.values_list("account__email", "mailbox__email")) == {
        ("stays@nhs.net", "rosewood.carehome@nhs.net")
    }
