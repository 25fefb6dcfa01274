"""Imports at scale: the tables a large import wrote are analysed before anything else plans
a statement on them; a small import leaves the statistics to autovacuum."""

import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import StaffAccount

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
