"""A fresh import's new accounts are written already judged (PostgreSQL), with their first
state change recorded under a run of the import's own: the accounts, mailboxes, homes, state
and alive changes and every figure of the runs must be exactly what the recheck alone made,
and the recheck is a run of its own that starts after the import (alerts read runs in
order)."""

import random
from contextlib import nullcontext
from datetime import date, timedelta

import pytest
import time_machine
from django.db import connection, transaction

from accounts.checks import run_check
from accounts.imports import engine
from accounts.imports.engine import run_import
from accounts.models import (
    CareHome,
    CheckRun,
    MailboxAliveChange,
    SharedMailbox,
    StaffAccount,
    StateChange,
)
from accounts.rules import RISK_ORDER, AccountState

TODAY = date(2026, 6, 15)
HEADER = "email,ods_code,display_name,status,last_activity,created,shared_mailboxes\n"
STATUSES = ["active"] * 6 + ["disabled", "deleted", "leaver"]


def _homes():
    for n in range(6):
        home = CareHome.objects.create(ods_code=f"VQ{n:03d}", name=f"Home {n}")
        for box in range(1 + n % 2):
            SharedMailbox.objects.create(home=home, email=f"box{box}.vq{n:03d}@nhs.net")


def _report(rng: random.Random, people: range, moved: float) -> str:
    """One row per person: a random home (some move when `moved`), status, activity (blank,
    a date, or a London date-time), created date, and 0 to 2 of the home's mailboxes."""
    rows = []
    for n in people:
        home = n % 6 if rng.random() >= moved else rng.randrange(6)
        boxes = [f"box{b}.vq{home:03d}@nhs.net" for b in range(1 + home % 2)]
        linked = ";".join(rng.sample(boxes, rng.randint(0, len(boxes))))
        ago = rng.choice([None, 0, 10, 59, 60, 61, 89, 90, 91, 150, 400])
        last = "" if ago is None else f"{TODAY - timedelta(days=ago):%d/%m/%Y} 09:30"
        created = rng.choice(["", f"{TODAY - timedelta(days=rng.randint(0, 300)):%Y-%m-%d}"])
        status = rng.choice(STATUSES)
        rows.append(f"person{n}@nhs.net,VQ{home:03d},P {n},{status},{last},{created},{linked}\n")
    return HEADER + "".join(rows)


def _snapshot(results) -> dict:
    """Everything the imports and their rechecks wrote, by natural keys (ids differ). An
    import's judgement run (PostgreSQL) counts as part of the recheck that follows it: the
    changes it recorded, and its events and newly flagged, go with that recheck's."""
    judged = {r.judged_run_id: r.recheck_run_id for r in results if r.judged_run_id}
    kept = CheckRun.objects.exclude(pk__in=judged).order_by("id")
    runs = {run.pk: n for n, run in enumerate(kept)}
    runs.update({judgement: runs[recheck] for judgement, recheck in judged.items()})
    folded = {recheck: CheckRun.objects.get(pk=j) for j, recheck in judged.items()}

    def figures(run):
        extra = folded.get(run.pk)
        events = run.events + (extra.events if extra else 0)
        flagged = run.newly_flagged + (extra.newly_flagged if extra else 0)
        return (
            run.as_of,
            run.trigger,
            run.scope_homes,
            run.full,
            run.outcome,
            run.checked,
            flagged,
            run.recovered,
            events,
            run.accounts_by_state,
            run.mailboxes_by_risk,
            run.started_at,
            run.finished_at,
        )

    return {
        "results": [
            (r.created, r.updated, r.unchanged, r.links_added, r.links_removed,
             sorted(CareHome.objects.get(pk=h).ods_code for h in r.home_ids),
             runs.get(r.recheck_run_id))
            for r in results
        ],
        "accounts": sorted(StaffAccount.objects.values_list(
            "email", "home__ods_code", "display_name", "reported_status", "last_activity",
            "last_activity_date", "first_recorded", "state", "disable_date", "state_changed_at")),
        "mailboxes": sorted(SharedMailbox.objects.values_list(
            "email", "risk", "alive_accounts", "forecast_date", "checked_at")),
        "homes": sorted(CareHome.objects.values_list(
            "ods_code", "risk_rank", "soonest_forecast", "checked_as_of")),
        "changes": sorted((
            (runs[c.run_id], c.as_of, c.account.email if c.account_id else None,
             c.mailbox.email if c.mailbox_id else None, c.from_value, c.to_value)
            for c in StateChange.objects.select_related("account", "mailbox")), key=str),
        "alive": sorted((runs[a.run_id], a.mailbox.email, a.alive)
                        for a in MailboxAliveChange.objects.select_related("mailbox")),
        "runs": [figures(run) for run in kept],
    }  # fmt: skip


def _imports(tmp_path, seed: int) -> dict:
    """A first report (new accounts), the nightly check the next day, then a second report:
    some people changed, some moved home, some new."""
    rng = random.Random(seed)
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_text(_report(rng, range(0, 240), 0.0))
    second.write_text(_report(rng, range(120, 400), 0.2))
    with time_machine.travel(TODAY, tick=False):
        results = [run_import("accounts", first)]
    with time_machine.travel(TODAY + timedelta(days=1), tick=False):
        run_check(TODAY + timedelta(days=1))
        results.append(run_import("accounts", second))
    return {
        **_snapshot(results),
        "judged_run_ids": [r.judged_run_id for r in results],
        "recheck_run_ids": [r.recheck_run_id for r in results],
    }


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_judged_new_accounts_leave_exactly_what_the_recheck_alone_left(tmp_path, monkeypatch, seed):
    if connection.vendor != "postgresql":
        pytest.skip("new accounts are judged by the import on PostgreSQL only")
    _homes()
    judged = _imports(tmp_path, seed)
    assert judged["results"][0][0] == 240 and judged["changes"]
    judgement = CheckRun.objects.get(pk=judged["judged_run_ids"][0])
    recheck = CheckRun.objects.get(pk=judged["recheck_run_ids"][0])
    assert judgement.pk < recheck.pk and judgement.outcome == CheckRun.Outcome.OK
    assert judgement.checked == judgement.events == 240 and judgement.finished_at
    assert judgement.scope_homes == 6 and judgement.home is None  # not a national run
    assert sum(judgement.accounts_by_state.values()) == 240
    assert set(judgement.accounts_by_state) == {s.value for s in AccountState}
    assert judgement.accounts_by_state["inactive"] == judgement.newly_flagged
    assert {state for *_, state, _, _ in judged["accounts"]} >= {
        "active", "at_risk", "inactive", "left", "deleted", "disabled"
    }  # fmt: skip
    with transaction.atomic():
        StaffAccount.objects.all().delete()
        CheckRun.objects.all().delete()
        SharedMailbox.objects.update(risk=None, alive_accounts=None, forecast_date=None,
                                     checked_at=None)  # fmt: skip
        CareHome.objects.update(risk_rank=len(RISK_ORDER), soonest_forecast=None,
                                checked_as_of=None)  # fmt: skip
    with connection.cursor() as cursor:  # the runs number from 1 again, as in the first go
        cursor.execute("ALTER SEQUENCE accounts_checkrun_id_seq RESTART")
    monkeypatch.setattr(engine, "_judges_new_accounts", lambda: False)
    alone = _imports(tmp_path, seed)
    assert alone["judged_run_ids"] == [None, None]
    for part in alone:
        if not part.endswith("_run_ids"):
            assert judged[part] == alone[part], part


@pytest.mark.django_db
@pytest.mark.parametrize("flag", ["--dry-run", "--skip-bad-rows"])
def test_an_import_that_writes_no_account_leaves_no_run(tmp_path, rosewood, flag):
    """The judgement run is made in the import's transaction: a dry run rolls it back, and an
    import that wrote no account deletes it."""
    import io

    from django.core.management import call_command

    path = tmp_path / "accounts.csv"
    row = "amy@nhs.net,VM4Q7,Amy,active,01/06/2026 09:00,,\n"
    path.write_text(HEADER + (row if flag == "--dry-run" else row.replace("VM4Q7", "NOPE!")))
    with pytest.raises(SystemExit) if flag == "--skip-bad-rows" else nullcontext():
        call_command("import_accounts", str(path), flag, stdout=io.StringIO(), stderr=io.StringIO())
    assert not StaffAccount.objects.exists()
    assert not CheckRun.objects.exists()
    assert not StateChange.objects.exists()


@pytest.mark.django_db
def test_a_file_of_known_accounts_makes_no_judgement_run(tmp_path, rosewood):
    """A judgement run is made only when the file has accounts to insert: one made and
    deleted for nothing cost a re-import a look through the newest events."""
    from django.db.models.signals import post_save

    path = tmp_path / "accounts.csv"
    path.write_text(HEADER + "amy@nhs.net,VM4Q7,Amy,active,01/06/2026 09:00,,\n")
    run_import("accounts", path)
    made = []

    def record(sender, instance, created, **kwargs):
        if created:
            made.append(instance.scope_homes)

    post_save.connect(record, sender=CheckRun)
    try:
        path.write_text(HEADER + "amy@nhs.net,VM4Q7,Amy R,active,02/06/2026 09:00,,\n")
        result = run_import("accounts", path)
    finally:
        post_save.disconnect(record, sender=CheckRun)
    assert (result.updated, result.created, result.judged_run_id) == (1, 0, None)
    assert made == [1]  # the recheck of Rosewood alone, no run of the import's own
