"""The rules one account and one mailbox at a time, and proof that the set-based check
gives the same answers."""

import random
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.checks import run_check
from accounts.models import CareHome, SharedMailbox, StaffAccount
from accounts.rules import (
    RISK_ORDER,
    AccountState,
    MailboxRisk,
    Thresholds,
    account_state,
    activity_date,
    mailbox_forecast,
    mailbox_risk,
)
from tests.conftest import TODAY, make_account

DEFAULT = Thresholds(90, 60)


def state(days_ago, *, status="active", left_on=None, thresholds=DEFAULT, as_of=TODAY):
    return account_state(
        left_on=left_on,
        reported_status=status,
        activity_on=as_of - timedelta(days=days_ago),
        as_of=as_of,
        thresholds=thresholds,
    )


@pytest.mark.parametrize(
    "days, expected",
    [
        (0, AccountState.ACTIVE),
        (59, AccountState.ACTIVE),
        (60, AccountState.AT_RISK),
        (89, AccountState.AT_RISK),
        (90, AccountState.INACTIVE),
        (400, AccountState.INACTIVE),
    ],
)
def test_thresholds_at_their_boundaries(days, expected):
    assert state(days) == expected


@pytest.mark.parametrize(
    "days, expected",
    [(29, "active"), (30, "at_risk"), (44, "at_risk"), (45, "inactive")],
)
def test_thresholds_as_configured(days, expected):
    assert state(days, thresholds=Thresholds(45, 30)) == expected


def test_a_report_leaver_is_left_at_any_date_a_managers_date_from_that_date():
    assert state(1, status="leaver", as_of=date(1999, 1, 1)) == AccountState.LEFT
    assert state(400, status="leaver") == AccountState.LEFT
    assert state(1, left_on=TODAY) == AccountState.LEFT
    assert state(1, left_on=TODAY, as_of=TODAY - timedelta(days=1)) == AccountState.ACTIVE


def test_a_vouched_log_in_counts_when_later_than_the_report():
    assert activity_date(date(2026, 1, 1), date(2025, 1, 1), date(2026, 2, 1)) == date(2026, 2, 1)
    assert activity_date(date(2026, 3, 1), date(2025, 1, 1), date(2026, 2, 1)) == date(2026, 3, 1)
    assert activity_date(None, date(2025, 1, 1), None) == date(2025, 1, 1)
    assert activity_date(None, None, date(2026, 2, 1)) == date(2026, 2, 1)


def test_first_match_wins_left_then_deleted_then_disabled():
    assert state(200, status="deleted", left_on=TODAY) == AccountState.LEFT
    assert state(200, status="deleted") == AccountState.DELETED
    assert state(1, status="disabled") == AccountState.DISABLED
    assert state(1, left_on=TODAY + timedelta(days=1)) == AccountState.ACTIVE


def test_mailbox_risk_first_match_wins():
    assert mailbox_risk([]) == MailboxRisk.ORPHANED
    assert mailbox_risk(["left", "deleted"]) == MailboxRisk.ORPHANED
    assert mailbox_risk(["left", "disabled"]) == MailboxRisk.AT_RISK
    assert mailbox_risk(["inactive"]) == MailboxRisk.AT_RISK
    assert mailbox_risk(["at_risk", "inactive"]) == MailboxRisk.SINGLE_USER
    assert mailbox_risk(["active", "at_risk", "left"]) == MailboxRisk.HEALTHY


def test_forecast_is_latest_alive_activity_plus_threshold():
    linked = [
        ("active", date(2026, 6, 1)),
        ("at_risk", date(2026, 4, 1)),
        ("inactive", date(2026, 6, 10)),
    ]
    assert mailbox_forecast(linked, DEFAULT) == date(2026, 8, 30)
    assert mailbox_forecast([("inactive", date(2026, 6, 10))], DEFAULT) is None


def test_check_agrees_with_the_pure_rules_on_random_homes(db):
    rng = random.Random(7)
    for h in range(12):
        home = CareHome.objects.create(ods_code=f"RND{h:02d}", name=f"Home {h}")
        boxes = [
            SharedMailbox.objects.create(home=home, email=f"box{h}-{b}@nhs.net")
            for b in range(rng.randint(1, 2))
        ]
        for n in range(rng.randint(0, 6)):
            make_account(
                home,
                f"p{h}-{n}@nhs.net",
                days_ago=rng.choice([None, 0, 59, 60, 89, 90, 91, 150]),
                status=rng.choice(["active"] * 4 + ["disabled", "deleted"]),
                left_on=TODAY - timedelta(days=3) if rng.random() < 0.15 else None,
                mailboxes=[b for b in boxes if rng.random() < 0.8],
            )
    run_check(TODAY)
    assert_check_agrees_with_rules(TODAY)


def assert_check_agrees_with_rules(as_of):
    for account in StaffAccount.objects.all():
        expected = account_state(
            left_on=account.left_on,
            reported_status=account.reported_status,
            activity_on=account.activity_on,
            as_of=as_of,
            thresholds=DEFAULT,
        )
        assert account.state == expected, account.email
        assert account.disable_date == DEFAULT.disable_date(account.activity_on)
    for mailbox in SharedMailbox.objects.prefetch_related("accounts"):
        linked = [(a.state, a.activity_on) for a in mailbox.accounts.all()]
        assert mailbox.risk == mailbox_risk(s for s, _ in linked), mailbox.email
        assert mailbox.forecast_date == mailbox_forecast(linked, DEFAULT)
        assert mailbox.alive_accounts == sum(s in ("active", "at_risk") for s, _ in linked)
    for home in CareHome.objects.prefetch_related("mailboxes"):
        risks = [m.risk for m in home.mailboxes.all()]
        if risks:
            assert home.worst_risk == min(risks, key=[r.value for r in RISK_ORDER].index)
        else:
            assert home.worst_risk is None
        forecasts = [m.forecast_date for m in home.mailboxes.all() if m.forecast_date]
        assert home.soonest_forecast == (min(forecasts) if forecasts else None)


days = st.one_of(st.none(), st.integers(min_value=-5, max_value=200))
an_account = st.fixed_dictionaries(
    {
        "days_ago": days,
        "status": st.sampled_from(["active", "disabled", "deleted", "leaver"]),
        "left_in": days,
        "attested_ago": days,
        "linked": st.booleans(),
    }
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(accounts=st.lists(an_account, max_size=8), as_of_shift=st.integers(-100, 100))
def test_check_agrees_with_the_rules_on_leavers_and_vouched_log_ins(
    rosewood_mailbox, accounts, as_of_shift
):
    StaffAccount.objects.all().delete()
    for n, spec in enumerate(accounts):
        account = make_account(
            rosewood_mailbox.home,
            f"h{n}@nhs.net",
            days_ago=spec["days_ago"],
            status=spec["status"],
            left_on=None if spec["left_in"] is None else TODAY + timedelta(days=spec["left_in"]),
            mailboxes=[rosewood_mailbox] if spec["linked"] else [],
        )
        if spec["attested_ago"] is not None:
            account.attested_on = TODAY - timedelta(days=spec["attested_ago"])
            account.save()
    as_of = TODAY + timedelta(days=as_of_shift)
    run_check(as_of, full=True)
    assert_check_agrees_with_rules(as_of)
    # One home's recheck uses the same rules.
    run_check(as_of, home=rosewood_mailbox.home)
    assert_check_agrees_with_rules(as_of)
