"""One home's (or some homes') recheck: the same rules, restricted to those homes' rows, and
never skipped because the national run is working; a report's leaver is left at any date."""

import io
import json
import threading
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import checks, checkscope
from accounts.checks import run_check
from accounts.models import CheckRun, MailboxLink, SharedMailbox, StaffAccount, StateChange
from tests.conftest import TODAY, make_account

MONTH_AGO = TODAY - timedelta(days=30)


@pytest.fixture
def two_homes(rosewood, rosewood_mailbox, willow, willow_mailbox):
    """Both homes have someone who went quiet 70 days ago (at risk today, active a month
    ago) and a keen user."""
    for home, box in ((rosewood, rosewood_mailbox), (willow, willow_mailbox)):
        name = home.ods_code.lower()
        make_account(home, f"keen.{name}@nhs.net", days_ago=1, mailboxes=[box])
        make_account(home, f"quiet.{name}@nhs.net", days_ago=70, mailboxes=[box])
    run_check(MONTH_AGO)
    return rosewood, willow


def states(home):
    return dict(StaffAccount.objects.filter(home=home).values_list("email", "state"))


@pytest.mark.parametrize("wide", [False, True])
@pytest.mark.parametrize("how", ["home", "home_ids"])
def test_recheck_of_one_home_leaves_the_other_as_it_was(
    two_homes, willow_mailbox, how, wide, monkeypatch
):
    """Wide: a scope of half the homes or more, read in one pass on PostgreSQL."""
    if wide:
        monkeypatch.setattr(checkscope, "WIDE_MIN_HOMES", 1)  # Rosewood is half of two
    rosewood, willow = two_homes
    assert states(willow)["quiet.vn8p2@nhs.net"] == "active"
    # A link added in Willow since the last run would change its mailbox if Willow were judged.
    lonely = make_account(willow, "lonely@nhs.net", days_ago=200)
    MailboxLink.objects.create(account=lonely, mailbox=willow_mailbox)
    willow_before = states(willow)
    box_before = list(
        SharedMailbox.objects.filter(home=willow).values_list("risk", "alive_accounts")
    )

    scope = {"home": rosewood} if how == "home" else {"home_ids": [rosewood.pk]}
    with CaptureQueriesContext(connection) as queries:
        run = run_check(TODAY, trigger=CheckRun.Trigger.ACTION, **scope)
    unnested = any("unnest" in q["sql"] for q in queries.captured_queries)
    assert unnested == (wide and connection.vendor == "postgresql")

    assert run.outcome == "ok"
    assert states(rosewood)["quiet.vm4q7@nhs.net"] == "at_risk"
    assert states(willow) == willow_before
    assert box_before == list(
        SharedMailbox.objects.filter(home=willow).values_list("risk", "alive_accounts")
    )
    events = StateChange.objects.filter(run=run)
    assert events.filter(account__home=willow).count() == 0
    assert events.filter(mailbox__home=willow).count() == 0
    assert events.filter(account__email="quiet.vm4q7@nhs.net").count() == 1
    assert run.checked == 2 and run.scope_homes == 1
    assert run.accounts_by_state["at_risk"] == 1 and run.accounts_by_state["inactive"] == 0
    assert sum(run.mailboxes_by_risk.values()) == 1
    assert run.home == (rosewood if how == "home" else None)


def test_recheck_of_several_homes_after_an_import(two_homes, rosewood, willow):
    run = run_check(TODAY, trigger=CheckRun.Trigger.IMPORT, home_ids=[rosewood.pk, willow.pk])
    assert run.outcome == "ok" and run.scope_homes == 2 and run.home is None
    assert run.trigger == "import" and run.checked == 4
    assert states(willow)["quiet.vn8p2@nhs.net"] == "at_risk"
    assert run.summary()["scope_homes"] == 2


def test_recheck_ranks_only_its_home(two_homes, rosewood, willow, willow_mailbox):
    willow_mailbox.delete()  # Willow now has no mailbox at all: its rank should change
    rank = type(willow).objects.get(pk=willow.pk).risk_rank
    run_check(TODAY, home=rosewood)
    assert type(willow).objects.get(pk=willow.pk).risk_rank == rank
    run_check(TODAY, home=willow)
    assert type(willow).objects.get(pk=willow.pk).risk_rank == 4


def test_a_report_leaver_is_left_at_any_earlier_date(rosewood_mailbox, tmp_path):
    path = tmp_path / "accounts.csv"
    path.write_text(
        "email,ods_code,display_name,status,last_activity,created,shared_mailboxes\n"
        f"cat@nhs.net,VM4Q7,Cat,leaver,{TODAY - timedelta(days=2)},,rosewood.carehome@nhs.net\n"
        f"amy@nhs.net,VM4Q7,Amy,active,{TODAY - timedelta(days=2)},,rosewood.carehome@nhs.net\n"
    )
    call_command("import_accounts", str(path), stdout=io.StringIO())
    run = run_check(TODAY - timedelta(days=400))
    assert states(rosewood_mailbox.home) == {"cat@nhs.net": "left", "amy@nhs.net": "active"}
    assert run.accounts_by_state["left"] == 1
    rosewood_mailbox.refresh_from_db()
    assert rosewood_mailbox.alive_accounts == 1


def test_a_managers_left_on_date_counts_from_that_date(rosewood):
    make_account(rosewood, "eve@nhs.net", days_ago=5, left_on=TODAY)
    run_check(TODAY - timedelta(days=1))
    assert states(rosewood) == {"eve@nhs.net": "active"}
    run_check(TODAY)
    assert states(rosewood) == {"eve@nhs.net": "left"}


def _hold_the_national_run(monkeypatch):
    """Starts a national run that stops inside its transaction until released."""
    inside, release = threading.Event(), threading.Event()
    apply = checks._apply

    def slow_apply(run, thresholds, scope):
        if scope.national:
            inside.set()
            assert release.wait(20)
        apply(run, thresholds, scope)

    monkeypatch.setattr(checks, "_apply", slow_apply)
    results = {}

    def national():
        try:
            results["national"] = run_check(TODAY).outcome
        finally:
            connection.close()

    worker = threading.Thread(target=national)
    worker.start()
    assert inside.wait(20)
    return worker, release, results


@pytest.mark.django_db(transaction=True)
def test_a_recheck_waits_for_the_national_run_instead_of_skipping(two_homes, monkeypatch):
    rosewood, _ = two_homes
    worker, release, results = _hold_the_national_run(monkeypatch)

    def scoped():
        try:
            results["scoped"] = run_check(TODAY, trigger=CheckRun.Trigger.ACTION, home=rosewood)
        finally:
            connection.close()

    waiting = threading.Thread(target=scoped)
    waiting.start()
    time.sleep(0.6)
    assert "scoped" not in results  # still waiting for the national run
    release.set()
    worker.join(30)
    waiting.join(30)
    assert results["national"] == "ok"
    assert results["scoped"].outcome == "ok"
    assert results["scoped"].finished_at > CheckRun.objects.get(home=None, as_of=TODAY).finished_at


@pytest.mark.django_db(transaction=True)
def test_a_recheck_gives_up_after_a_bounded_wait_and_says_why(two_homes, monkeypatch):
    rosewood, _ = two_homes
    monkeypatch.setattr(checkscope, "LOCK_WAIT_S", 0.3)
    worker, release, results = _hold_the_national_run(monkeypatch)
    try:
        run = run_check(TODAY, trigger=CheckRun.Trigger.ACTION, home=rosewood)
    finally:
        release.set()
        worker.join(30)
    assert run.outcome == "skipped"
    assert "waited 0.3 s for another check" in run.error
    assert results["national"] == "ok"


def test_check_full_recomputes_what_the_incremental_run_trusts(two_homes, rosewood_mailbox):
    run_check(TODAY)
    # A value the check itself wrote, damaged behind its back (no trigger marks it).
    SharedMailbox.objects.filter(pk=rosewood_mailbox.pk).update(risk="orphaned")
    out = io.StringIO()
    call_command("check_inactivity", "--as-of", TODAY.isoformat(), "--json", stdout=out)
    assert json.loads(out.getvalue())["full"] is False
    assert SharedMailbox.objects.get(pk=rosewood_mailbox.pk).risk == "orphaned"
    out = io.StringIO()
    call_command("check_inactivity", "--as-of", TODAY.isoformat(), "--json", "--full", stdout=out)
    body = json.loads(out.getvalue())
    assert body["full"] is True and body["events"] == 1
    assert SharedMailbox.objects.get(pk=rosewood_mailbox.pk).risk == "healthy"


def test_the_task_passes_full(two_homes, rosewood_mailbox):
    from accounts.tasks import nightly_check

    run_check(TODAY)
    SharedMailbox.objects.filter(pk=rosewood_mailbox.pk).update(risk="orphaned")
    summary = nightly_check.apply(kwargs={"as_of": TODAY.isoformat(), "full": True}).get()
    assert summary["full"] is True
    assert SharedMailbox.objects.get(pk=rosewood_mailbox.pk).risk == "healthy"


def test_beat_runs_the_full_check_weekly(db):
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(name="Weekly full inactivity check")
    assert task.task == "accounts.tasks.nightly_check" and task.enabled
    assert json.loads(task.kwargs) == {"trigger": "beat", "full": True}
    assert (task.crontab.day_of_week, task.crontab.hour) == ("0", "4")


def test_migration_turns_import_written_leavers_into_the_reports_status(rosewood):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("accounts.migrations.0013_check_scope_leavers_pending")
    by_import = make_account(rosewood, "imported@nhs.net", days_ago=5)
    StaffAccount.objects.filter(pk=by_import.pk).update(left_on=TODAY)  # bulk SQL: no history
    by_hand = make_account(rosewood, "manager@nhs.net", days_ago=5)
    by_hand.left_on = TODAY
    by_hand.save()  # as a manager's action saves it: with a history row
    migration.leavers_from_reports(apps, None)
    by_import.refresh_from_db()
    by_hand.refresh_from_db()
    assert (by_import.reported_status, by_import.left_on) == ("leaver", None)
    assert (by_hand.reported_status, by_hand.left_on) == ("active", TODAY)
