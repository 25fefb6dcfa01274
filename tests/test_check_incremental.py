"""The incremental nightly check gives the same tables as a full recompute, whatever
happened in between: activity, statuses, links added and removed, mailboxes added, moved
and deleted, accounts deleted, rechecks of single homes, dates forwards and backwards."""

import io
import random
from datetime import timedelta

import pytest

from accounts import checks
from accounts.checks import run_check
from accounts.models import CareHome, MailboxLink, SharedMailbox, StaffAccount, StateChange
from tests.conftest import TODAY, at_london, make_account


def tables():
    return (
        list(StaffAccount.objects.order_by("id").values_list("id", "state", "disable_date")),
        list(
            SharedMailbox.objects.order_by("id").values_list(
                "id", "risk", "alive_accounts", "forecast_date"
            )
        ),
        list(CareHome.objects.order_by("id").values_list("id", "risk_rank", "soonest_forecast")),
    )


def build(rng):
    homes = [CareHome.objects.create(ods_code=f"INC{h:02d}", name=f"Home {h}") for h in range(8)]
    for home in homes:
        boxes = [
            SharedMailbox.objects.create(home=home, email=f"box{home.pk}-{b}@nhs.net")
            for b in range(rng.randint(0, 3))
        ]
        for n in range(rng.randint(0, 6)):
            make_account(
                home,
                f"p{home.pk}-{n}@nhs.net",
                days_ago=rng.choice([None, 0, 30, 59, 60, 89, 90, 200]),
                status=rng.choice(["active"] * 5 + ["disabled", "deleted", "leaver"]),
                left_on=TODAY + timedelta(days=rng.randint(-20, 20))
                if rng.random() < 0.1
                else None,
                mailboxes=[b for b in boxes if rng.random() < 0.7],
            )
    return homes


def mutate(rng, homes, day):
    """One random change of the kind imports, managers and admins make."""
    accounts = list(StaffAccount.objects.all())
    mailboxes = list(SharedMailbox.objects.all())
    kind = rng.choice(
        ["activity", "status", "attest", "link", "unlink", "mailbox", "move", "drop_box",
         "drop_account", "left"]
    )  # fmt: skip
    if kind == "activity" and accounts:
        account = rng.choice(accounts)
        account.last_activity = at_london(day - timedelta(days=rng.randint(0, 120)))
        account.save()
    elif kind == "status" and accounts:
        StaffAccount.objects.filter(pk=rng.choice(accounts).pk).update(
            reported_status=rng.choice(["active", "disabled", "deleted", "leaver"])
        )
    elif kind == "attest" and accounts:
        StaffAccount.objects.filter(pk=rng.choice(accounts).pk).update(attested_on=day)
    elif kind == "left" and accounts:
        StaffAccount.objects.filter(pk=rng.choice(accounts).pk).update(
            left_on=day + timedelta(days=rng.randint(-3, 3))
        )
    elif kind == "link" and accounts:
        account = rng.choice(accounts)
        boxes = [m for m in mailboxes if m.home_id == account.home_id]
        if boxes:
            MailboxLink.objects.get_or_create(account=account, mailbox=rng.choice(boxes))
    elif kind == "unlink":
        link = MailboxLink.objects.order_by("?").first()
        if link:
            link.delete()
    elif kind == "mailbox":
        home = rng.choice(homes)
        SharedMailbox.objects.create(home=home, email=f"new{rng.random()}@nhs.net")
    elif kind == "move" and mailboxes:
        box = rng.choice(mailboxes)
        MailboxLink.objects.filter(mailbox=box).delete()
        SharedMailbox.objects.filter(pk=box.pk).update(home=rng.choice(homes))
    elif kind == "drop_box" and mailboxes:
        rng.choice(mailboxes).delete()
    elif kind == "drop_account" and accounts:
        rng.choice(accounts).delete()


@pytest.mark.parametrize("seed", range(6))
def test_incremental_and_full_give_identical_tables(db, seed, monkeypatch):
    monkeypatch.setattr(checks, "FULL_WHEN_CHANGED", 2.0)  # never switch to full by itself
    rng = random.Random(seed)
    homes = build(rng)
    day = TODAY
    run_check(day)
    for _ in range(12):
        for _ in range(rng.randint(0, 4)):
            mutate(rng, homes, day)
        if rng.random() < 0.3:
            run_check(day, home=rng.choice(homes))  # a manager's recheck in between
        day += timedelta(days=rng.choice([0, 1, 1, 7, 40, -30]))
        incremental = run_check(day)
        assert not incremental.full
        # Every home is marked as of the run's date, by the homes statement itself: those
        # with no mailbox and those whose rank did not move included.
        assert set(CareHome.objects.values_list("checked_as_of", flat=True)) == {day}
        after_incremental = tables()
        full = run_check(day, full=True)
        assert full.full
        assert tables() == after_incremental, f"seed {seed}, {day}"
        assert full.events == 0
        assert not StateChange.objects.filter(run=full).exists()


def test_bulk_link_writes_are_marked_for_the_next_run(rosewood_mailbox, tmp_path):
    from django.core.management import call_command

    from accounts.models import PendingCheck

    run_check(TODAY)
    assert not PendingCheck.objects.exists()
    path = tmp_path / "accounts.csv"
    path.write_text(
        "email,ods_code,display_name,status,last_activity,created,shared_mailboxes\n"
        f"amy@nhs.net,VM4Q7,Amy,active,{TODAY},,rosewood.carehome@nhs.net\n"
    )
    call_command("import_accounts", str(path), stdout=io.StringIO())
    assert PendingCheck.objects.filter(mailbox_id=rosewood_mailbox.pk).exists()
    run_check(TODAY)
    assert not PendingCheck.objects.exists()
    rosewood_mailbox.refresh_from_db()
    assert (rosewood_mailbox.risk, rosewood_mailbox.alive_accounts) == ("single_user", 1)
