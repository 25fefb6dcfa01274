"""What an import leaves when its recheck is skipped, crosses midnight or meets a nightly run
(PostgreSQL): the changed accounts are judged by the checks alone, so the nightly finds
them, state and days inactive agree, and no run undoes a later one. Written by the review
of a judged UPDATE that broke each of these (README: "Imports at scale", fifth round)."""

import threading
from datetime import date, datetime, timedelta

import pytest
import time_machine
from django.db import connection, connections  # noqa: F401 (the skipif condition)

from accounts import checks, exports
from accounts.checks import run_check
from accounts.checkscope import CheckBusy
from accounts.imports import engine
from accounts.imports.engine import run_import
from accounts.models import CheckRun, MailboxLink, SharedMailbox, StaffAccount, StateChange
from accounts.rules import LONDON, Thresholds

HEADER = "email,ods_code,display_name,status,last_activity,created,shared_mailboxes\n"
D = date(2026, 6, 15)

PG_ONLY = pytest.mark.skipif(
    "connection.vendor != 'postgresql'", reason="PostgreSQL: the import judges accounts there"
)


def _london(day: date, hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=LONDON)


def _busy(*args, **kwargs):
    raise CheckBusy("the nightly check holds the lock")


def _import_at_noon_with_the_recheck_skipped(monkeypatch, path):
    """The report imported at noon on D while the nightly holds the lock: no recheck."""
    with monkeypatch.context() as m, time_machine.travel(_london(D, 12, 0), tick=False):
        m.setattr(checks, "locked_transaction", _busy)
        return run_import("accounts", path)


def _assert_state_agrees_with_days_inactive(home, days: int) -> None:
    """The export's one account: never inactive with fewer days inactive than that takes."""
    (row,) = exports.account_rows([home])
    assert not (row["state"] == "inactive" and row["days_inactive"] < days), row


def _one_user_box(home, active_on: date):
    """A shared mailbox kept alive by one account, after the nightly check of D."""
    box = SharedMailbox.objects.create(home=home, email="box.vm4q7@nhs.net")
    old = StaffAccount.objects.create(
        email="old@nhs.net",
        home=home,
        last_activity=_london(active_on, 9, 0),
        first_recorded=active_on,
    )
    MailboxLink.objects.create(account=old, mailbox=box)
    with time_machine.travel(_london(D, 2, 30), tick=False):
        run_check(D)
    box.refresh_from_db()
    return box, old


@PG_ONLY
@pytest.mark.django_db(transaction=True)
def test_nightly_after_a_skipped_recheck_recomputes_the_mailbox_of_a_changed_account(
    tmp_path, monkeypatch, rosewood
):
    """The recheck after an import is skipped (the nightly held the lock 20 s) or its worker
    dies: `_recheck` says "the nightly check catches up". An account the report marks as a
    leaver, its links unchanged: the next nightly must find its mailbox orphaned, as it
    does when the import does not judge (nothing marks the mailbox as pending, and the
    account's state no longer changes in the nightly's eyes)."""
    for n in range(9):  # so the nightly's changes stay under FULL_WHEN_CHANGED: incremental
        StaffAccount.objects.create(
            email=f"filler{n}@nhs.net", home=rosewood, last_activity=_london(D, 9, 0)
        )
    box, old = _one_user_box(rosewood, D - timedelta(days=3))
    assert box.risk == "single_user"
    path = tmp_path / "a.csv"
    path.write_text(HEADER + "old@nhs.net,VM4Q7,Old,leaver,12/06/2026 09:00,,box.vm4q7@nhs.net\n")
    with monkeypatch.context() as m, time_machine.travel(_london(D, 12, 0), tick=False):
        m.setattr(checks, "locked_transaction", _busy)
        result = run_import("accounts", path)
    assert result.updated == 1
    with time_machine.travel(_london(D + timedelta(days=1), 2, 30), tick=False):
        nightly = run_check(D + timedelta(days=1))
    assert nightly.outcome == CheckRun.Outcome.OK and not nightly.full
    box.refresh_from_db()
    old.refresh_from_db()
    assert old.state == "left"
    assert (box.risk, box.alive_accounts) == ("orphaned", 0), (box.risk, box.alive_accounts)


@PG_ONLY
@pytest.mark.django_db(transaction=True)
def test_a_skipped_recheck_leaves_state_and_days_inactive_agreeing(tmp_path, monkeypatch, rosewood):
    """Design: state, days_inactive and disable_date never contradict each other
    (days_inactive counted as of the home's check date). The import judges a changed
    account as of today while its home stays checked as of yesterday when the recheck is
    skipped: the export says inactive with 89 days inactive."""
    days = Thresholds.from_settings().inactivity_days
    yesterday = D - timedelta(days=1)
    acct = StaffAccount.objects.create(
        email="amy@nhs.net", home=rosewood, display_name="Amy",
        last_activity=_london(D - timedelta(days=days), 9, 0), first_recorded=D - timedelta(days=400),
    )  # fmt: skip
    with time_machine.travel(_london(yesterday, 2, 30), tick=False):
        run_check(yesterday)
    acct.refresh_from_db()
    assert acct.state == "at_risk"
    path = tmp_path / "a.csv"
    path.write_text(HEADER + "amy@nhs.net,VM4Q7,Amy Pond,,,,\n")  # a new display name only
    result = _import_at_noon_with_the_recheck_skipped(monkeypatch, path)
    assert result.updated == 1
    _assert_state_agrees_with_days_inactive(rosewood, days)


@PG_ONLY
@pytest.mark.django_db(transaction=True)
def test_an_import_does_not_undo_a_later_run(tmp_path, monkeypatch, rosewood):
    """The import's date is taken as its write begins (23:59:50 on D); a manager's action
    rechecks the home as of D+1 at 00:00:10 while the import writes, before its UPDATE.
    The import must not judge the account as of D again (the reverted judged UPDATE did: a
    flip back to active, counted as recovered, then forward to at risk at the recheck),
    where the check alone records nothing (the rule the recheck keeps too:
    test_recheck_after_midnight_...)."""
    crossing = Thresholds.from_settings().at_risk_on_or_before(D + timedelta(days=1))
    box, old = _one_user_box(rosewood, crossing)
    assert StaffAccount.objects.get(pk=old.pk).state == "active"

    real_match = engine._match_accounts
    reached = []

    def action_after_midnight(cursor):
        matched = real_match(cursor)  # the import's write has begun; it writes next
        reached.append(True)

        def action():
            try:
                with time_machine.travel(_london(D + timedelta(days=1), 0, 0, 10), tick=False):
                    run_check(D + timedelta(days=1), trigger=CheckRun.Trigger.ACTION,
                              home=rosewood)  # fmt: skip
            finally:
                connections.close_all()

        thread = threading.Thread(target=action)
        thread.start()
        thread.join()
        return matched

    real_recheck = engine._recheck

    def recheck_after_midnight(result):
        with time_machine.travel(_london(D + timedelta(days=1), 0, 0, 20), tick=False):
            real_recheck(result)

    monkeypatch.setattr(engine, "_match_accounts", action_after_midnight)
    monkeypatch.setattr(engine, "_recheck", recheck_after_midnight)
    path = tmp_path / "a.csv"
    path.write_text(HEADER + "old@nhs.net,VM4Q7,Old Renamed,,,,box.vm4q7@nhs.net\n")
    with time_machine.travel(_london(D, 23, 59, 50), tick=False):
        result = run_import("accounts", path)
    assert result.updated == 1 and reached  # the manager's recheck ran inside the write
    old.refresh_from_db()
    assert old.state == "at_risk"
    flips = list(
        StateChange.objects.filter(account=old)
        .order_by("id")
        .values_list("as_of", "from_value", "to_value")
    )
    assert flips == [(D, "", "active"), (D + timedelta(days=1), "active", "at_risk")], flips


@PG_ONLY
@pytest.mark.django_db(transaction=True)
def test_a_nightly_that_judged_before_the_import_committed_records_a_true_history(
    tmp_path, monkeypatch, rosewood
):
    """The nightly of D+1 judges every account (its first statement), then the import marks
    one of them as a leaver and commits, then the nightly writes. Without the judged UPDATE
    the account's history is a chain (each change from the state the one before it left).
    With it, the nightly records "active -> at risk" over the "left" the import wrote, and
    overwrites a state judged from the report with one judged from the data before it."""
    crossing = Thresholds.from_settings().at_risk_on_or_before(D + timedelta(days=1))
    box, old = _one_user_box(rosewood, crossing)
    judged_all = threading.Event()
    go_on = threading.Event()
    real_execute = checks._execute
    main_thread = threading.current_thread()

    def paused_execute(cursor, steps, params):
        if threading.current_thread() is not main_thread and any(
            table == "check_account_changes" for _, table in steps
        ):
            rows = real_execute(cursor, steps, params)
            judged_all.set()
            assert go_on.wait(30)
            return rows
        return real_execute(cursor, steps, params)

    monkeypatch.setattr(checks, "_execute", paused_execute)

    def nightly():
        try:
            with time_machine.travel(_london(D + timedelta(days=1), 2, 30)):
                run_check(D + timedelta(days=1))
        finally:
            connections.close_all()

    thread = threading.Thread(target=nightly)
    thread.start()
    assert judged_all.wait(30)
    real_recheck = engine._recheck

    def recheck_after_the_nightly(result):
        go_on.set()  # the nightly writes now; the recheck waits for its lock
        thread.join(30)
        real_recheck(result)

    monkeypatch.setattr(engine, "_recheck", recheck_after_the_nightly)
    path = tmp_path / "a.csv"
    path.write_text(HEADER + "old@nhs.net,VM4Q7,Old,leaver,,,box.vm4q7@nhs.net\n")
    try:
        with time_machine.travel(_london(D + timedelta(days=1), 2, 31)):
            result = run_import("accounts", path)
    finally:
        go_on.set()
        thread.join(30)
    assert result.updated == 1
    old.refresh_from_db()
    assert old.state == "left"
    chain = list(
        StateChange.objects.filter(account=old).order_by("id").values_list("from_value", "to_value")
    )
    for (_, before), (after, _) in zip(chain, chain[1:], strict=False):
        assert before == after, chain


@PG_ONLY
@pytest.mark.django_db(transaction=True)
def test_a_new_account_agrees_with_its_days_inactive_when_the_recheck_is_skipped(
    tmp_path, monkeypatch, rosewood
):
    """A new account in a home checked as of yesterday, its recheck skipped: judged by the
    insert as of today it read inactive with 89 days inactive (the home's figures count
    from yesterday) until the night. The insert now leaves it to the recheck, as on SQLite
    (design: state, days_inactive and disable_date never contradict each other)."""
    days = Thresholds.from_settings().inactivity_days
    yesterday = D - timedelta(days=1)
    with time_machine.travel(_london(yesterday, 2, 30), tick=False):
        run_check(yesterday)  # the home's figures count from yesterday
    last = D - timedelta(days=days)
    path = tmp_path / "a.csv"
    path.write_text(HEADER + f"amy@nhs.net,VM4Q7,Amy,active,{last:%d/%m/%Y} 09:00,,\n")
    result = _import_at_noon_with_the_recheck_skipped(monkeypatch, path)
    assert result.created == 1
    _assert_state_agrees_with_days_inactive(rosewood, days)
    assert result.judged_run_id is None  # nothing judged: no run of the import's own
