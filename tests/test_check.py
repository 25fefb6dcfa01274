import csv
import io
import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import checks
from accounts.checks import run_check
from accounts.models import CheckRun, SharedMailbox, StaffAccount, StateChange
from tests.conftest import TODAY, make_account


@pytest.fixture
def rosewood_staff(rosewood, rosewood_mailbox):
    """Rosewood: two active carers, one nearly due, one long gone quiet, one leaver."""
    box = [rosewood_mailbox]
    return {
        "amy": make_account(rosewood, "amy@nhs.net", days_ago=3, mailboxes=box),
        "ben": make_account(rosewood, "ben@nhs.net", days_ago=20, mailboxes=box),
        "cat": make_account(rosewood, "cat@nhs.net", days_ago=70, mailboxes=box),
        "dev": make_account(rosewood, "dev@nhs.net", days_ago=120, mailboxes=box),
        "eve": make_account(rosewood, "eve@nhs.net", days_ago=5, left_on=TODAY, mailboxes=box),
    }


def states():
    return dict(StaffAccount.objects.values_list("email", "state"))


def test_first_run_sets_states_and_records_every_change(rosewood_staff, rosewood_mailbox):
    run = run_check(TODAY)
    assert run.outcome == "ok"
    assert states() == {
        "amy@nhs.net": "active",
        "ben@nhs.net": "active",
        "cat@nhs.net": "at_risk",
        "dev@nhs.net": "inactive",
        "eve@nhs.net": "left",
    }
    rosewood_mailbox.refresh_from_db()
    assert (rosewood_mailbox.risk, rosewood_mailbox.alive_accounts) == ("healthy", 3)
    assert rosewood_mailbox.forecast_date == TODAY - timedelta(days=3) + timedelta(days=90)
    assert run.events == 6 == StateChange.objects.filter(run=run).count()
    assert run.newly_flagged == 1
    assert run.checked == 5
    assert run.accounts_by_state["inactive"] == 1
    assert run.mailboxes_by_risk == {"orphaned": 0, "at_risk": 0, "single_user": 0, "healthy": 1}


def test_second_run_for_the_same_day_changes_nothing(rosewood_staff, rosewood_mailbox):
    run_check(TODAY)
    before = list(
        StaffAccount.objects.values_list("id", "state", "disable_date", "state_changed_at")
    )
    checked_at = SharedMailbox.objects.get().checked_at
    again = run_check(TODAY)
    assert again.events == 0
    assert not StateChange.objects.filter(run=again).exists()
    assert before == list(
        StaffAccount.objects.values_list("id", "state", "disable_date", "state_changed_at")
    )
    assert SharedMailbox.objects.get().checked_at == checked_at


def test_later_date_moves_accounts_along_and_mailbox_to_risk(rosewood_staff, rosewood_mailbox):
    run_check(TODAY)
    later = run_check(TODAY + timedelta(days=88))
    assert states()["amy@nhs.net"] == "inactive"
    assert states()["cat@nhs.net"] == "inactive"
    rosewood_mailbox.refresh_from_db()
    assert rosewood_mailbox.risk == "at_risk"
    assert rosewood_mailbox.forecast_date is None
    assert later.newly_flagged == 3
    change = StateChange.objects.get(run=later, mailbox=rosewood_mailbox)
    assert (change.from_value, change.to_value) == ("healthy", "at_risk")


def test_recovery_when_someone_logs_in(rosewood_staff):
    run_check(TODAY)
    dev = StaffAccount.objects.get(email="dev@nhs.net")
    dev.last_activity = datetime.combine(TODAY, datetime.min.time(), tzinfo=UTC)
    dev.save()
    run = run_check(TODAY)
    assert run.recovered == 1
    assert states()["dev@nhs.net"] == "active"


def test_never_used_account_counts_from_first_recorded(rosewood, rosewood_mailbox):
    make_account(rosewood, "new@nhs.net", days_ago=None)  # first recorded 365 days ago
    run_check(TODAY)
    account = StaffAccount.objects.get()
    assert account.state == "inactive"
    assert account.disable_date == TODAY - timedelta(days=365) + timedelta(days=90)


def test_late_evening_in_summer_time_counts_on_the_london_date(rosewood):
    # 23:30 UTC on 1 July is 00:30 on 2 July in London (British Summer Time).
    account = make_account(rosewood, "night@nhs.net")
    account.last_activity = datetime(2026, 7, 1, 23, 30, tzinfo=UTC)
    account.save()
    as_of = datetime(2026, 9, 30).date()  # 90 days after 2 July, 91 after 1 July
    run_check(as_of)
    account.refresh_from_db()
    assert account.state == "inactive"
    run_check(as_of - timedelta(days=1))
    account.refresh_from_db()
    assert account.state == "at_risk"


def test_mailbox_risks_including_no_links(rosewood, willow):
    SharedMailbox.objects.create(home=rosewood, email="lonely@nhs.net")
    single = SharedMailbox.objects.create(home=willow, email="single@nhs.net")
    make_account(willow, "only@nhs.net", days_ago=1, mailboxes=[single])
    make_account(willow, "quiet@nhs.net", days_ago=95, mailboxes=[single])
    gone = SharedMailbox.objects.create(home=willow, email="gone@nhs.net")
    make_account(willow, "left@nhs.net", days_ago=1, left_on=TODAY, mailboxes=[gone])
    run_check(TODAY)
    risks = dict(SharedMailbox.objects.values_list("email", "risk"))
    assert risks == {
        "lonely@nhs.net": "orphaned",
        "single@nhs.net": "single_user",
        "gone@nhs.net": "orphaned",
    }
    assert SharedMailbox.objects.get(email="lonely@nhs.net").alive_accounts == 0


def test_a_run_that_fails_midway_leaves_the_previous_state(rosewood_staff, monkeypatch):
    run_check(TODAY)
    before = list(StaffAccount.objects.values_list("id", "state", "disable_date"))
    statements = checks._statements
    monkeypatch.setattr(
        checks,
        "_statements",
        lambda *args: [*statements(*args), ("SELECT * FROM no_such_table", None)],
    )
    with pytest.raises(Exception, match="no_such_table"):
        run_check(TODAY + timedelta(days=200))
    failed = CheckRun.objects.order_by("-id").first()
    assert failed.outcome == "failed" and "no_such_table" in failed.error
    assert list(StaffAccount.objects.values_list("id", "state", "disable_date")) == before
    assert not StateChange.objects.filter(run=failed).exists()


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_one_is_skipped(rosewood_staff, monkeypatch):
    inside, release = threading.Event(), threading.Event()
    apply = checks._apply

    def slow_apply(run, thresholds, scope):
        inside.set()
        assert release.wait(20)
        apply(run, thresholds, scope)

    monkeypatch.setattr(checks, "_apply", slow_apply)
    results = {}

    def first():
        try:
            results["first"] = run_check(TODAY).outcome
        finally:
            connection.close()

    worker = threading.Thread(target=first)
    worker.start()
    assert inside.wait(20)
    monkeypatch.setattr(checks, "_apply", apply)
    second = run_check(TODAY)
    release.set()
    worker.join(30)
    assert second.outcome == "skipped"
    assert results["first"] == "ok"
    assert StaffAccount.objects.filter(state__isnull=True).count() == 0


def test_query_count_does_not_grow_with_accounts(rosewood, rosewood_mailbox):
    def queries_for_run(as_of):
        with CaptureQueriesContext(connection) as ctx:
            run_check(as_of)
        return len(ctx.captured_queries)

    make_account(rosewood, "one@nhs.net", days_ago=1, mailboxes=[rosewood_mailbox])
    few = queries_for_run(TODAY)
    for n in range(60):
        make_account(rosewood, f"many{n}@nhs.net", days_ago=n * 3, mailboxes=[rosewood_mailbox])
    many = queries_for_run(TODAY + timedelta(days=1))
    assert few == many
    assert many <= 32


def test_command_json_has_the_contract_keys(rosewood_staff):
    out = io.StringIO()
    call_command("check_inactivity", "--as-of", TODAY.isoformat(), "--json", stdout=out)
    body = json.loads(out.getvalue())
    assert body["as_of"] == TODAY.isoformat()
    assert body["checked"] == 5 and body["events"] == 6 and body["newly_flagged"] == 1
    assert body["recovered"] == 0
    assert set(body["accounts"]) == {"active", "at_risk", "inactive", "disabled", "deleted", "left"}
    assert body["accounts"]["disabled"] == 0
    assert set(body["mailboxes"]) == {"orphaned", "at_risk", "single_user", "healthy"}


def test_command_prints_a_summary(rosewood_staff):
    out = io.StringIO()
    call_command("check_inactivity", "--as-of", TODAY.isoformat(), stdout=out)
    assert "Checked 5 accounts as of 2026-06-15: 1 newly inactive" in out.getvalue()


@pytest.mark.parametrize("bad", ["29/03/2026", "2026-02-30", "tomorrow"])
def test_command_refuses_a_bad_date(db, bad):
    with pytest.raises(CommandError, match=f"--as-of: '{bad}' is not a date"):
        call_command("check_inactivity", "--as-of", bad)
    assert not CheckRun.objects.exists()


def test_export_accounts_csv_in_contract_order(rosewood_staff, willow):
    make_account(willow, "aaa@nhs.net", days_ago=None)
    run_check(TODAY)
    out = io.StringIO()
    call_command("export_hygiene", "accounts", stdout=out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert list(rows[0]) == [
        "ods_code",
        "email",
        "display_name",
        "state",
        "last_activity",
        "days_inactive",
        "disable_date",
        "as_of",
    ]
    assert [(r["ods_code"], r["email"]) for r in rows][:2] == [
        ("VM4Q7", "amy@nhs.net"),
        ("VM4Q7", "ben@nhs.net"),
    ]
    assert rows[-1]["ods_code"] == "VN8P2" and rows[-1]["last_activity"] == ""
    cat = next(r for r in rows if r["email"] == "cat@nhs.net")
    assert cat["state"] == "at_risk"
    assert cat["last_activity"] == (TODAY - timedelta(days=70)).isoformat()
    assert (cat["days_inactive"], cat["as_of"]) == ("70", TODAY.isoformat())


def test_export_mailboxes_json_for_one_home(rosewood_staff, willow_mailbox):
    run_check(TODAY)
    out = io.StringIO()
    call_command("export_hygiene", "mailboxes", "--ods", "vm4q7", "--format", "json", stdout=out)
    body = json.loads(out.getvalue())
    assert body == [
        {
            "ods_code": "VM4Q7",
            "email": "rosewood.carehome@nhs.net",
            "risk": "healthy",
            "alive_accounts": 3,
            "forecast_date": (TODAY + timedelta(days=87)).isoformat(),
            "as_of": TODAY.isoformat(),
        }
    ]


def test_export_unknown_home_is_a_clear_error(db):
    with pytest.raises(CommandError, match="no care home with ODS code ZZZ99"):
        call_command("export_hygiene", "accounts", "--ods", "zzz99")
