"""From a review of the judged INSERT of new accounts (PostgreSQL): the import's judgement is
a run of its own, finished with the import; the recheck after the commit is another, as of
its own date and after any run that finished before it (alerts read runs in order). Also the
wide scope and the links INSERT without DISTINCT."""

import threading
from datetime import date, datetime, timedelta

import pytest
import time_machine
from django.db import connection, connections

from accounts import checks, dashboard, notify, sweeps
from accounts.checks import run_check
from accounts.checkscope import CheckBusy
from accounts.imports import engine
from accounts.imports.engine import run_import
from accounts.models import (
    CareHome,
    CheckRun,
    MailboxLink,
    SharedMailbox,
    StaffAccount,
    StateChange,
)
from accounts.rules import LONDON, Thresholds

HEADER = "email,ods_code,display_name,status,last_activity,created,shared_mailboxes\n"
D = date(2026, 6, 15)

pg_only = pytest.mark.skipif(
    "connection.vendor != 'postgresql'", reason="the judged INSERT is PostgreSQL only"
)


PG_ONLY = pytest.mark.skipif(
    "connection.vendor != 'postgresql'", reason="the judged INSERT is PostgreSQL only"
)


def _london(day: date, hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=LONDON)


def _nightly_while_the_import_writes(monkeypatch):
    """The nightly check of D+1 runs from start to finish, on a connection of its own, while
    the import's transaction is open (just before it analyses what it wrote)."""
    real = engine._analyze_after_large_write

    def nightly_meanwhile(spec, result, cursor):
        def nightly():
            try:
                run_check(D + timedelta(days=1))
            finally:
                connections.close_all()

        thread = threading.Thread(target=nightly)
        thread.start()
        thread.join()
        return real(spec, result, cursor)

    monkeypatch.setattr(engine, "_analyze_after_large_write", nightly_meanwhile)


def _import_at_noon(tmp_path, *lines: str):
    """An accounts report of these lines, imported at noon on D."""
    path = tmp_path / "a.csv"
    path.write_text(HEADER + "".join(f"{line}\n" for line in lines))
    with time_machine.travel(_london(D, 12, 0), tick=False):
        return run_import("accounts", path)


def _checked_on_d(home, active_on: date, email: str = "old@nhs.net"):
    """One shared mailbox and one account linked to it, last active on `active_on`, after
    the nightly check of D."""
    box = SharedMailbox.objects.create(home=home, email="box.vm4q7@nhs.net")
    old = StaffAccount.objects.create(
        email=email, home=home, last_activity_date=active_on, first_recorded=active_on
    )
    MailboxLink.objects.create(account=old, mailbox=box)
    with time_machine.travel(_london(D, 2, 30), tick=False):
        run_check(D)
    box.refresh_from_db()
    old.refresh_from_db()
    return box, old


# The recheck judges as of its own date: a run of a later date that judged the same homes
# in between is not undone (states a day back, changes recorded twice).
@pytest.mark.django_db(transaction=True)
def test_recheck_after_midnight_does_not_undo_a_later_run(tmp_path, monkeypatch, rosewood):
    if connection.vendor != "postgresql":
        pytest.skip("the import's run (and its date) is made by the write on PostgreSQL only")
    # Active as of D, at risk as of D+1.
    crossing = Thresholds.from_settings().at_risk_on_or_before(D + timedelta(days=1))
    box, old = _checked_on_d(rosewood, crossing)
    assert old.state == "active"

    real_recheck = engine._recheck

    def recheck_after_midnight(result):
        # The import committed at 23:59:50; a manager's action rechecks the home at 00:00:10
        # (as of D+1), then the import's recheck takes its turn.
        with time_machine.travel(_london(D + timedelta(days=1), 0, 0, 10), tick=False):
            run_check(D + timedelta(days=1), trigger=CheckRun.Trigger.ACTION, home=rosewood)
            real_recheck(result)

    monkeypatch.setattr(engine, "_recheck", recheck_after_midnight)
    path = tmp_path / "a.csv"
    path.write_text(HEADER + "new@nhs.net,VM4Q7,New,active,14/06/2026 09:00,,box.vm4q7@nhs.net\n")
    with time_machine.travel(_london(D, 23, 59, 50), tick=False):
        result = run_import("accounts", path)
    assert result.created == 1
    old.refresh_from_db()
    rosewood.refresh_from_db()
    assert old.state == "at_risk", "the import's recheck judged as of D after a run as of D+1"
    assert rosewood.checked_as_of == D + timedelta(days=1)
    flips = list(
        StateChange.objects.filter(account=old)
        .order_by("id")
        .values_list("as_of", "from_value", "to_value")
    )
    assert flips == [(D, "", "active"), (D + timedelta(days=1), "active", "at_risk")], flips


def _busy(*args, **kwargs):
    raise CheckBusy("the nightly check holds the lock")


# The recheck skipped (the nightly holds the lock): the import's judgement is a finished run
# of its own that says what it recorded; the skipped recheck claims nothing.
@pytest.mark.django_db(transaction=True)
def test_a_skipped_recheck_claims_nothing_and_the_judgement_run_says_what_it_did(
    tmp_path, monkeypatch, rosewood
):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    monkeypatch.setattr(checks, "locked_transaction", _busy)
    path = tmp_path / "a.csv"
    path.write_text(HEADER + "new@nhs.net,VM4Q7,New,active,01/01/2026 09:00,,\n")
    with time_machine.travel(_london(D, 12, 0), tick=False):
        run_import("accounts", path)
    judgement, recheck = CheckRun.objects.order_by("id")
    assert recheck.outcome == CheckRun.Outcome.SKIPPED
    assert (recheck.events, recheck.newly_flagged, recheck.checked) == (0, 0, 0)
    assert not StateChange.objects.filter(run=recheck).exists()
    assert judgement.outcome == CheckRun.Outcome.OK and judgement.finished_at
    assert (judgement.events, judgement.newly_flagged, judgement.checked) == (1, 1, 1)
    assert StateChange.objects.filter(run=judgement, to_value="inactive").count() == 1


# ...and the nightly after a skipped recheck is right for those accounts: no change recorded
# twice, the mailbox recomputed (the link's PendingCheck).
@pytest.mark.django_db(transaction=True)
def test_nightly_after_a_skipped_recheck_catches_up_once(tmp_path, monkeypatch, rosewood):
    box = SharedMailbox.objects.create(home=rosewood, email="box.vm4q7@nhs.net")
    with time_machine.travel(_london(D - timedelta(days=1), 2, 30), tick=False):
        run_check(D - timedelta(days=1))
    with monkeypatch.context() as m:
        m.setattr(checks, "locked_transaction", _busy)
        _import_at_noon(
            tmp_path,
            "new@nhs.net,VM4Q7,New,active,10/06/2026 09:00,,BOX.vm4q7@nhs.net",
            "old@nhs.net,VM4Q7,Old,active,01/01/2026 09:00,,box.vm4q7@nhs.net",
        )
    with time_machine.travel(_london(D + timedelta(days=1), 2, 30), tick=False):
        nightly = run_check(D + timedelta(days=1))
    assert nightly.outcome == CheckRun.Outcome.OK
    box.refresh_from_db()
    assert (box.risk, box.alive_accounts) == ("single_user", 1)
    for email in ("new@nhs.net", "old@nhs.net"):
        firsts = StateChange.objects.filter(account__email=email, from_value="")
        assert firsts.count() == 1, email


# A recheck whose worker died after the import committed: the import's judgement run is
# finished already (never swept as a run that kept nothing) and is not a national run.
@pytest.mark.django_db(transaction=True)
def test_a_recheck_that_never_ran_leaves_the_judgement_run_finished(
    tmp_path, monkeypatch, rosewood
):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    monkeypatch.setattr(engine, "_recheck", lambda result: None)  # killed before it began
    path = tmp_path / "a.csv"
    path.write_text(HEADER + "new@nhs.net,VM4Q7,New,active,01/01/2026 09:00,,\n")
    with time_machine.travel(_london(D, 12, 0), tick=False):
        run_import("accounts", path)
    run = CheckRun.objects.get()
    assert not CheckRun.objects.national().filter(pk=run.pk).exists()
    with time_machine.travel(_london(D, 15, 0), tick=False):
        assert sweeps.sweep_stale_runs() == 0
    run.refresh_from_db()
    assert run.outcome == CheckRun.Outcome.OK
    assert StateChange.objects.filter(run=run).count() == run.events == 1


# Links without DISTINCT: one mailbox named twice on a line in other spellings, a line
# repeated with --skip-bad-rows: one link each.
@pytest.mark.django_db
@pytest.mark.parametrize("skip", [False, True])
def test_links_named_twice_any_spelling_and_repeated_lines(tmp_path, rosewood, skip):
    SharedMailbox.objects.create(home=rosewood, email="box.vm4q7@nhs.net")
    row = "amy@nhs.net,VM4Q7,Amy,active,01/06/2026 09:00,," + (
        '"box.vm4q7@nhs.net; BOX.VM4Q7@NHS.NET , Box.Vm4q7@nhs.net;box.vm4q7@nhs.net"\n'
    )
    path = tmp_path / "a.csv"
    path.write_text(HEADER + row + (row.replace("amy@", "AMY@") if skip else ""))
    with time_machine.travel(_london(D, 12, 0), tick=False):
        result = run_import("accounts", path, skip_bad_rows=skip)
    assert result.written, result.errors
    assert MailboxLink.objects.count() == 1
    assert result.links_added == 1


# The wide scope: exactly 100 homes (of 200), duplicates and ids of no home in the list:
# the same figures as the = ANY form.
@pytest.mark.django_db
def test_wide_scope_of_exactly_100_with_duplicates_and_unknown_ids(monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    homes = [CareHome.objects.create(ods_code=f"W{n:04d}", name=f"W {n}") for n in range(200)]
    for n, home in enumerate(homes):
        box = SharedMailbox.objects.create(home=home, email=f"b{n}@nhs.net")
        a = StaffAccount.objects.create(
            email=f"p{n}@nhs.net", home=home, last_activity_date=D - timedelta(days=n % 120)
        )
        MailboxLink.objects.create(account=a, mailbox=box)
    ids = [h.pk for h in homes[:100]] + [homes[0].pk, homes[5].pk, 10**9, 10**9 + 1]
    from accounts.checkscope import Scope

    with time_machine.travel(_london(D, 12, 0), tick=False):
        assert Scope(ids, False).wide  # 102 distinct ids (2 of no home): wide
        run = run_check(D, home_ids=ids)
    assert run.outcome == CheckRun.Outcome.OK
    assert StaffAccount.objects.filter(home__in=homes[:100], state__isnull=True).count() == 0
    assert StaffAccount.objects.filter(home__in=homes[100:], state__isnull=False).count() == 0
    assert run.checked == 100


# The recheck's run starts after the import commits: a nightly that starts while the import
# writes (and finishes before the recheck, which waits for it) has an earlier id, so the
# next nightly's alerts (changes with run ids after the last national run's) see the
# mailbox the recheck found orphaned.
@pytest.mark.django_db(transaction=True)
def test_alerts_see_a_recheck_that_finished_after_a_concurrent_nightly(
    tmp_path, monkeypatch, rosewood, admin_user
):

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    box, _ = _checked_on_d(rosewood, D - timedelta(days=3))
    assert box.risk == "single_user"

    _nightly_while_the_import_writes(monkeypatch)
    path = tmp_path / "a.csv"
    path.write_text(HEADER + "old@nhs.net,VM4Q7,Old,leaver,12/06/2026 09:00,,box.vm4q7@nhs.net\n")
    with time_machine.travel(_london(D + timedelta(days=1), 2, 30)):
        result = run_import("accounts", path)
    assert result.updated == 1
    box.refresh_from_db()
    assert box.risk == "orphaned"
    runs = list(CheckRun.objects.order_by("id").values_list("id", "trigger", "scope_homes"))
    with time_machine.travel(_london(D + timedelta(days=2), 2, 30), tick=False):
        nightly = run_check(D + timedelta(days=2))
    assert notify.plan_alerts(nightly) == 1, runs


# The judgement run's summary (the runs API) counts its accounts by state, as every run does.
@PG_ONLY
@pytest.mark.django_db(transaction=True)
def test_judgement_run_summary_is_self_consistent(tmp_path, rosewood):
    result = _import_at_noon(
        tmp_path,
        "a@nhs.net,VM4Q7,A,active,01/01/2026 09:00,,",
        "b@nhs.net,VM4Q7,B,active,14/06/2026 09:00,,",
    )
    judged = CheckRun.objects.get(pk=result.judged_run_id).summary()
    recheck = CheckRun.objects.get(pk=result.recheck_run_id).summary()
    assert recheck["checked"] == sum(recheck["accounts"].values())
    assert judged["checked"] == sum(judged["accounts"].values()), judged


# A dry run rolls the judgement run back, and the result names no run.
@PG_ONLY
@pytest.mark.django_db(transaction=True)
def test_dry_run_result_names_no_rolled_back_run(tmp_path, rosewood):
    path = tmp_path / "a.csv"
    path.write_text(HEADER + "a@nhs.net,VM4Q7,A,active,01/01/2026 09:00,,\n")
    with time_machine.travel(_london(D, 12, 0), tick=False):
        result = run_import("accounts", path, dry_run=True)
    assert not CheckRun.objects.exists()
    assert result.judged_run_id is None, result.judged_run_id


# The judgement run's scope is the homes of the accounts it judged, not every home touched.
@PG_ONLY
@pytest.mark.django_db(transaction=True)
def test_judgement_run_scope_is_the_homes_it_judged(tmp_path, rosewood, willow):
    StaffAccount.objects.create(email="w@nhs.net", home=willow, last_activity_date=D)
    path = tmp_path / "a.csv"
    path.write_text(
        HEADER
        + "w@nhs.net,VN8P2,W,active,14/06/2026 09:00,,\n"  # updated, in willow
        + "new@nhs.net,VM4Q7,N,active,14/06/2026 09:00,,\n"  # created, in rosewood
    )
    with time_machine.travel(_london(D, 12, 0), tick=False):
        result = run_import("accounts", path)
    assert (result.created, result.updated) == (1, 1)
    judged = CheckRun.objects.get(pk=result.judged_run_id)
    assert judged.scope_homes == 1, judged.scope_homes


# A nightly that starts and finishes while the import writes: the new account's mailbox at
# risk still reaches the next nightly's alerts (the recheck's mailbox changes come after the
# nightly).
@PG_ONLY
@pytest.mark.django_db(transaction=True)
def test_alert_for_new_account_survives_concurrent_nightly(
    tmp_path, monkeypatch, rosewood, admin_user
):
    box, _ = _checked_on_d(rosewood, D, email="keep@nhs.net")
    _nightly_while_the_import_writes(monkeypatch)
    path = tmp_path / "a.csv"
    # keep leaves (the box loses its only active user); a new, long-inactive account is linked.
    path.write_text(
        HEADER
        + "keep@nhs.net,VM4Q7,K,leaver,14/06/2026 09:00,,box.vm4q7@nhs.net\n"
        + "new@nhs.net,VM4Q7,N,active,01/01/2026 09:00,,box.vm4q7@nhs.net\n"
    )
    with time_machine.travel(_london(D + timedelta(days=1), 2, 30)):
        result = run_import("accounts", path)
    box.refresh_from_db()
    runs = list(CheckRun.objects.order_by("id").values_list("id", "trigger", "scope_homes"))
    # The home counted its figures from D when the import began on D+1: the new account
    # waited for the recheck (no run of the import's own), which came after the nightly.
    assert result.judged_run_id is None
    assert runs[-2][0] < result.recheck_run_id, runs  # nightly < R
    assert box.risk in ("at_risk", "orphaned"), box.risk
    with time_machine.travel(_london(D + timedelta(days=2), 2, 30), tick=False):
        nightly = run_check(D + timedelta(days=2))
    assert notify.plan_alerts(nightly) == 1, runs
    # the home's history shows the new account's first state exactly once
    firsts = StateChange.objects.filter(account__email="new@nhs.net", from_value="")
    assert firsts.count() == 1
    assert any(c.email == "new@nhs.net" for c in dashboard.home_history(rosewood, [box]))
    # the home page's charts read only national and one-home runs: the judgement run is out
    assert dashboard.last_run().pk == nightly.pk
