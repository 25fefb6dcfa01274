"""One truth: every surface derives state, days inactive and dates from one as-of date,
and the leaver's journey and disabled accounts show where a manager looks."""

import csv
import io
import json
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from accounts import dashboard
from accounts.checks import run_check
from accounts.models import CareHome, CheckRun, Notification, StaffAccount
from accounts.notify import send_notifications
from accounts.rules import AccountState

from .conftest import TODAY, make_account


def export(kind="accounts", fmt="json"):
    out = io.StringIO()
    call_command("export_hygiene", kind, "--format", fmt, stdout=out)
    if fmt == "json":
        return {row["email"]: row for row in json.loads(out.getvalue())}
    return {row["email"]: row for row in csv.DictReader(io.StringIO(out.getvalue()))}


def test_export_counts_days_from_the_checks_date_and_a_vouched_log_in(rosewood):
    earlier = TODAY - timedelta(days=30)
    make_account(rosewood, "amy@nhs.net", days_ago=70)  # 40 days before `earlier`
    vouched = make_account(rosewood, "ben@nhs.net", days_ago=120)
    vouched.attested_on = TODAY - timedelta(days=35)
    vouched.save()
    run_check(earlier)
    rows = export()
    assert (rows["amy@nhs.net"]["state"], rows["amy@nhs.net"]["days_inactive"]) == ("active", 40)
    assert rows["amy@nhs.net"]["as_of"] == earlier.isoformat()
    # The vouched log-in counts: 5 days before the check's date, not 90 before today.
    assert (rows["ben@nhs.net"]["state"], rows["ben@nhs.net"]["days_inactive"]) == ("active", 5)
    assert rows["ben@nhs.net"]["disable_date"] == (vouched.attested_on + timedelta(90)).isoformat()


def test_unchecked_accounts_have_no_figures(rosewood):
    make_account(rosewood, "new@nhs.net", days_ago=3)
    row = export()["new@nhs.net"]
    assert (row["state"], row["days_inactive"], row["as_of"]) == (None, None, None)


def test_home_page_and_export_agree_after_an_old_check(client, manager, rosewood):
    make_account(rosewood, "amy@nhs.net", days_ago=95)
    run_check(TODAY - timedelta(days=10))
    client.force_login(manager)
    with time_machine.travel(TODAY, tick=False):
        page = client.get(reverse("home_detail", args=["VM4Q7"]))
    shown = page.context["accounts"][0]
    row = export("accounts", "csv")["amy@nhs.net"]
    # Judged 10 days ago at 85 days: at risk, and every surface says 85, not today's 95.
    assert (shown.state, shown.days) == ("at_risk", 85)
    assert (row["state"], row["days_inactive"]) == ("at_risk", "85")
    assert "As of 5 June 2026" in page.content.decode()


@pytest.fixture
def leaver(rosewood, rosewood_mailbox):
    for keeper in ("keeper", "helper"):
        make_account(rosewood, f"{keeper}@nhs.net", days_ago=5, mailboxes=[rosewood_mailbox])
    return make_account(
        rosewood, "gone@nhs.net", days_ago=40, left_on=TODAY, mailboxes=[rosewood_mailbox]
    )


def summary_of(home):
    return dashboard.summaries(CareHome.objects.filter(pk=home.pk))[0]


def test_removal_request_moves_the_leaver_from_todo_to_waiting_then_back(
    client, manager, rosewood, leaver
):
    run_check(TODAY)
    assert [a.email for a in summary_of(rosewood).leavers] == ["gone@nhs.net"]
    client.force_login(manager)
    url = reverse("account_action", args=["VM4Q7", leaver.pk, "removal-requested"])
    with time_machine.travel(TODAY, tick=False):
        response = client.post(url, {"on": TODAY.strftime("%d/%m/%Y")}, follow=True)
    assert response.status_code == 200
    summary = summary_of(rosewood)
    assert (summary.leavers, [a.email for a in summary.waiting]) == ([], ["gone@nhs.net"])
    assert not summary.needs_action  # nothing else to do in this home
    body = response.content.decode()
    assert "Waiting for NHSmail since 15 Jun 2026" in body
    assert "Ask the NHSmail team to remove" not in body

    run_check(TODAY + timedelta(days=13))
    assert summary_of(rosewood).waiting
    run_check(TODAY + timedelta(days=14))
    summary = summary_of(rosewood)
    assert [a.email for a in summary.chase_removal] == ["gone@nhs.net"] and summary.needs_action

    StaffAccount.objects.filter(pk=leaver.pk).update(reported_status="deleted")
    summary = summary_of(rosewood)
    assert not (summary.leavers or summary.waiting or summary.chase_removal)


def test_removal_request_marks_left_and_stops_reminders(rosewood, rosewood_mailbox, manager):
    # 83 days inactive: a 7-day reminder is due today, until the removal is asked for.
    account = make_account(rosewood, "carer@nhs.net", days_ago=83, mailboxes=[rosewood_mailbox])
    account.removal_requested_on = TODAY
    account.save()
    run_check(TODAY)
    assert send_notifications(TODAY, kinds=("reminder",))["reminder"]["planned"] == 0
    assert mail.outbox == []


def test_digest_lists_chases_and_not_the_waiting(rosewood, leaver, manager):
    StaffAccount.objects.filter(pk=leaver.pk).update(
        removal_requested_on=TODAY - timedelta(days=20)
    )
    run_check(TODAY)
    send_notifications(TODAY, kinds=("digest",))
    body = mail.outbox[0].body
    assert "Chase the NHSmail helpdesk: these removals are still not done" in body
    assert "gone@nhs.net): asked for on 26 May 2026" in body
    assert "Ask the NHSmail team to remove these leavers" not in body


def test_disabled_account_on_a_mailbox_at_risk_is_a_todo(
    client, manager, rosewood, rosewood_mailbox
):
    make_account(
        rosewood, "off@nhs.net", days_ago=100, status="disabled", mailboxes=[rosewood_mailbox]
    )
    run_check(TODAY)
    summary = summary_of(rosewood)
    assert [a.email for a in summary.reactivate] == ["off@nhs.net"]
    assert summary.mailboxes[0].risk == "at_risk" and summary.needs_action
    client.force_login(manager)
    body = client.get(reverse("dashboard")).content.decode()
    assert "Call the NHSmail helpdesk to reactivate Off" in body
    assert "/guidance/if-your-account-has-been-disabled/" in body


def test_disabled_account_is_no_todo_while_the_mailbox_is_healthy(rosewood, rosewood_mailbox):
    for name in ("a", "b"):
        make_account(rosewood, f"{name}@nhs.net", days_ago=1, mailboxes=[rosewood_mailbox])
    make_account(rosewood, "off@nhs.net", status="disabled", mailboxes=[rosewood_mailbox])
    run_check(TODAY)
    assert summary_of(rosewood).reactivate == []
    assert StaffAccount.objects.get(email="off@nhs.net").state == AccountState.DISABLED


def test_an_import_rechecks_the_homes_it_touched_at_once(rosewood, willow, tmp_path):
    make_account(willow, "far@nhs.net", days_ago=100)
    mover = make_account(willow, "mover@nhs.net", days_ago=100)
    path = tmp_path / "report.csv"
    with time_machine.travel(TODAY, tick=False):
        path.write_text(
            "email,ods_code,last_activity\n"
            f"new@nhs.net,VM4Q7,{TODAY - timedelta(days=65)}\n"
            f"mover@nhs.net,VM4Q7,{TODAY - timedelta(days=2)}\n"
        )
        call_command("import_accounts", str(path), stdout=io.StringIO())

    # The recheck, last; on PostgreSQL the import's judgement of its new account before it.
    *judged, run = CheckRun.objects.order_by("id")
    assert (run.trigger, run.as_of, run.outcome, run.scope_homes) == ("import", TODAY, "ok", 2)
    assert [(j.trigger, j.checked) for j in judged] == (
        [("import", 1)] if connection.vendor == "postgresql" else []
    )
    states = dict(StaffAccount.objects.values_list("email", "state"))
    # The new account and the one that moved are judged now; the untouched one in the
    # home the mover left is judged too (its home was rechecked), as of today.
    assert states == {
        "new@nhs.net": "at_risk",
        "mover@nhs.net": "active",
        "far@nhs.net": "inactive",
    }
    assert set(CareHome.objects.values_list("checked_as_of", flat=True)) == {TODAY}
    assert StaffAccount.objects.get(pk=mover.pk).home == rosewood


def test_a_dry_run_import_rechecks_nothing(rosewood, tmp_path):
    path = tmp_path / "report.csv"
    path.write_text("email,ods_code\nnew@nhs.net,VM4Q7\n")
    call_command("import_accounts", str(path), "--dry-run", stdout=io.StringIO())

    assert not CheckRun.objects.exists()


def test_todos_name_the_first_ten_and_count_the_rest(client, manager, rosewood):
    for n in range(15):
        make_account(rosewood, f"late{n:02d}@nhs.net", days_ago=70 + n)
    run_check(TODAY)
    summary = summary_of(rosewood)
    assert (summary.totals["to_chase"], len(summary.to_chase)) == (15, 10)
    # Soonest disable date first: the most inactive are named.
    assert summary.to_chase[0].email == "late14@nhs.net"
    client.force_login(manager)
    body = client.get(reverse("dashboard")).content.decode()
    assert "Ask 15 members of staff to log in to NHSmail" in body and "and 5 more" in body


def test_a_mailbox_lost_by_an_import_is_alerted_by_the_next_nightly_run(
    rosewood, rosewood_mailbox, tmp_path, admin_user
):
    from accounts import dashboard as board
    from accounts.notify import plan_alerts

    make_account(rosewood, "only@nhs.net", days_ago=5, mailboxes=[rosewood_mailbox])
    run_check(TODAY)
    path = tmp_path / "report.csv"
    path.write_text("email,ods_code,status\nonly@nhs.net,VM4Q7,leaver\n")
    with time_machine.travel(TODAY, tick=False):
        call_command("import_accounts", str(path), stdout=io.StringIO())
    rosewood_mailbox.refresh_from_db()
    assert rosewood_mailbox.risk == "orphaned"
    # The import's recheck is not "the last check" shown to people...
    assert board.last_run().trigger != "import"
    nightly = run_check(TODAY + timedelta(days=1))
    # ...and the nightly run that follows alerts what the import's recheck found.
    assert plan_alerts(nightly) == 1
    assert "VM4Q7" in Notification.objects.get(kind="alert").context["ods_codes"]


def test_a_skipped_recheck_leaves_no_row_contradicting_itself(rosewood):
    account = make_account(rosewood, "amy@nhs.net", days_ago=120)
    run_check(TODAY)
    # A log-in recorded whose recheck has not happened yet (skipped or failed).
    StaffAccount.objects.filter(pk=account.pk).update(attested_on=TODAY)
    row = export()["amy@nhs.net"]
    assert (row["state"], row["days_inactive"]) == ("inactive", 120)
    assert row["disable_date"] == (TODAY - timedelta(days=30)).isoformat()


def test_a_judged_account_in_a_home_never_checked_shows_no_figures(client, manager, rosewood):
    account = make_account(rosewood, "amy@nhs.net", days_ago=10)
    run_check(TODAY)
    CareHome.objects.filter(pk=rosewood.pk).update(checked_as_of=None)
    row = export()["amy@nhs.net"]
    assert (row["state"], row["days_inactive"], row["as_of"]) == ("active", None, None)
    client.force_login(manager)
    assert client.get(reverse("home_detail", args=["VM4Q7"])).status_code == 200
    assert StaffAccount.objects.get(pk=account.pk).state == "active"


def test_dates_from_before_they_were_refused_are_cleared(rosewood):
    import importlib

    from django.apps import apps

    clear = importlib.import_module("accounts.migrations.0022_clear_impossible_dates").clear
    broken = make_account(rosewood, "typo@nhs.net", days_ago=10)
    fine = make_account(rosewood, "fine@nhs.net", days_ago=10)
    StaffAccount.objects.filter(pk=broken.pk).update(
        last_activity_date="9999-12-31", attested_on="1900-01-01", state="active"
    )
    clear(apps, None)
    broken.refresh_from_db()
    assert (broken.last_activity, broken.last_activity_date, broken.attested_on) == (None,) * 3
    assert broken.state is None
    assert StaffAccount.objects.get(pk=fine.pk).last_activity_date == fine.last_activity_date
