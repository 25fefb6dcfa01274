"""What the check's and the imports' writes pay for on PostgreSQL: the indexes each row
writes and the room each page keeps for rewriting a row in place (README: "The check at
national scale")."""

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
