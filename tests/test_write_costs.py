"""What the check's and the imports' writes pay for on PostgreSQL: the indexes each row
writes and the room each page keeps for rewriting a row in place (README: "The check at
national scale")."""

from datetime import timedelta

import pytest
from django.db import connection

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL's indexes and storage settings"
)


@pytest.mark.django_db
def test_events_have_a_block_range_index_of_their_run():
    """Migration 0029: an event's run costs its write next to nothing."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'accounts_statechange'"
        )
        indexes = dict(cursor.fetchall())
    assert "USING brin (run_id)" in indexes["accounts_statechange_run_id_77356880"]


@pytest.mark.django_db
def test_homes_and_accounts_keep_room_to_be_rewritten_in_place():
    """Migrations 0019 and 0030: the check rewrites every home and, at a first run, every
    account; with room for a second copy on the page the new copy stays there (HOT)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reloptions FROM pg_class WHERE relname IN "
            "('accounts_carehome', 'accounts_staffaccount')"
        )
        options = dict(cursor.fetchall())
    assert options == {
        "accounts_carehome": ["fillfactor=45"],
        "accounts_staffaccount": ["fillfactor=45"],
    }


@pytest.mark.django_db(transaction=True)  # the import's own transaction, not a savepoint
def test_an_import_runs_with_the_checks_settings_for_big_statements(tmp_path, monkeypatch):
    """The import's hash joins of a million staged rows stay in memory (work_mem 256MB, as
    in the check's transaction), and the settings end with its transaction."""
    from accounts.imports import engine
    from accounts.models import CareHome

    CareHome.objects.create(ods_code="VM4Q7", name="Rosewood")
    seen = []
    real_stage = engine._stage

    def stage(*args, **kwargs):
        with connection.cursor() as cursor:
            cursor.execute("SHOW work_mem")
            seen.append(cursor.fetchone()[0])
        return real_stage(*args, **kwargs)

    monkeypatch.setattr(engine, "_stage", stage)
    path = tmp_path / "accounts.csv"
    path.write_text("email,ods_code\namy@nhs.net,VM4Q7\n")
    result = engine.run_import("accounts", path)
    assert result.created == 1
    with connection.cursor() as cursor:
        cursor.execute("SHOW work_mem")
        after = cursor.fetchone()[0]
    assert seen == ["256MB"] and after != "256MB"


CHECK_UPDATE = "UPDATE accounts_staffaccount a "
IMPORT_UPDATE = "UPDATE accounts_staffaccount AS t "


def _around(update: str, queries: list[dict]) -> list[tuple[str, str]]:
    """(statement before, statement after) each such UPDATE of the accounts ran with."""
    sql = [" ".join(q["sql"].split()) for q in queries]
    return [(sql[i - 1], sql[i + 1]) for i, text in enumerate(sql) if text.startswith(update)]


SEEK_BY_ID = ("SET LOCAL enable_seqscan = off", "SELECT set_config('enable_seqscan', 'on', true)")


@pytest.mark.django_db
def test_the_check_finds_few_changed_accounts_by_id_and_many_by_a_scan(rosewood):
    """checks.BY_ID_WHEN_CHANGED: one account of ten changes, so its row is found by id (the
    planner would read the whole table); at a first run every account changes, so the table
    is read once. Either way the setting ends with the statement."""
    from django.db import connection as conn
    from django.test.utils import CaptureQueriesContext

    from accounts.checks import run_check
    from tests.conftest import TODAY, make_account

    accounts = [make_account(rosewood, f"staff{n}@nhs.net", days_ago=n) for n in range(10)]
    with CaptureQueriesContext(conn) as first:
        run_check(TODAY)
    assert _around(CHECK_UPDATE, first.captured_queries)
    assert all(around != SEEK_BY_ID for around in _around(CHECK_UPDATE, first.captured_queries))

    StaffAccount = type(accounts[0])
    StaffAccount.objects.filter(pk=accounts[3].pk).update(
        last_activity=None, last_activity_date=None
    )
    with CaptureQueriesContext(conn) as next_run:
        run_check(TODAY)
    assert _around(CHECK_UPDATE, next_run.captured_queries) == [SEEK_BY_ID]
    accounts[3].refresh_from_db()
    assert accounts[3].disable_date == accounts[3].first_recorded + timedelta(days=90)


@pytest.mark.django_db(transaction=True)  # the import's own transaction, not a savepoint
def test_an_import_finds_its_few_changed_accounts_by_id(tmp_path, rosewood):
    """As the check's: a re-import that changes one row of ten finds it by id; a fresh file
    (nothing matched) and a file that changes most of its rows read the table once."""
    from django.db import connection as conn
    from django.test.utils import CaptureQueriesContext

    from accounts.imports.engine import run_import
    from accounts.models import StaffAccount

    def import_names(names: list[str]) -> list[tuple[str, str]]:
        path = tmp_path / "accounts.csv"
        rows = [f"staff{n}@nhs.net,VM4Q7,{name}" for n, name in enumerate(names)]
        path.write_text("email,ods_code,display_name\n" + "\n".join(rows) + "\n")
        with CaptureQueriesContext(conn) as queries:
            assert run_import("accounts", path).written
        return _around(IMPORT_UPDATE, queries.captured_queries)

    fresh = import_names([f"Name {n}" for n in range(10)])  # nothing matched: nothing sought
    assert fresh and SEEK_BY_ID not in fresh
    assert import_names([f"Name {n}" if n != 4 else "Renamed" for n in range(10)]) == [SEEK_BY_ID]
    assert StaffAccount.objects.get(email="staff4@nhs.net").display_name == "Renamed"
    many = import_names([f"Other {n}" for n in range(10)])
    assert many and SEEK_BY_ID not in many
    assert StaffAccount.objects.filter(display_name__startswith="Other ").count() == 10


@pytest.mark.django_db(transaction=True)  # the import's own transaction, not a savepoint
def test_seeking_by_id_leaves_the_sessions_own_setting_as_it_was(tmp_path, rosewood):
    """After the UPDATE that seeks by id, the rest of the transaction runs as the session
    asked (a role or a session may turn enable_seqscan off), not with it forced on."""
    from django.db import connection as conn
    from django.test.utils import CaptureQueriesContext

    from accounts.imports.engine import run_import

    path = tmp_path / "accounts.csv"
    rows = [f"staff{n}@nhs.net,VM4Q7,Name {n}" for n in range(10)]
    path.write_text("email,ods_code,display_name\n" + "\n".join(rows) + "\n")
    assert run_import("accounts", path).written
    rows[4] = "staff4@nhs.net,VM4Q7,Renamed"
    path.write_text("email,ods_code,display_name\n" + "\n".join(rows) + "\n")
    with conn.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
    try:
        with CaptureQueriesContext(conn) as queries:
            assert run_import("accounts", path).written
        with conn.cursor() as cursor:
            cursor.execute("SHOW enable_seqscan")
            after = cursor.fetchone()[0]
    finally:
        with conn.cursor() as cursor:
            cursor.execute("RESET enable_seqscan")
    assert _around(IMPORT_UPDATE, queries.captured_queries) == [
        ("SET LOCAL enable_seqscan = off", "SELECT set_config('enable_seqscan', 'off', true)")
    ]
    assert after == "off"
