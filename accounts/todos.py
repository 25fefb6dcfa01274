"""What a home must do about its people, as SQL, written once: the cards, home page, digest
(dashboard.HomeSummary) and the admin's worklist (worklist.py) all classify accounts with
these two expressions."""

from datetime import timedelta
from functools import reduce
from operator import or_

from django.conf import settings
from django.db.models import (
    Case,
    CharField,
    DateField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from . import rules
from .models import MailboxLink
from .rules import AccountState

TODOS = ("to_chase", "reactivate", "leavers", "chase_removal", "waiting")


def arms() -> dict[tuple[str, ...], Q]:
    """attention() arm by arm, each with the to-dos its accounts can be on (todo() tells
    them apart): the worklist reads one arm at a time (worklist._arms says why)."""
    return {
        ("to_chase",): Q(
            state__in=[AccountState.AT_RISK, AccountState.INACTIVE], removal_requested_on=None
        ),
        ("leavers", "chase_removal", "waiting"): (
            Q(state=AccountState.LEFT) & ~Q(reported_status=rules.ReportedStatus.DELETED)
        ),
        # The state first: PostgreSQL evaluates the AND in this order, and for a large home
        # it may hash every link of every risky mailbox in the country to answer EXISTS
        # (10 ms at 1.5M accounts), which it now does only when the home has a disabled
        # account. Correlated, so a small home probes its own accounts' links instead.
        ("reactivate",): Q(state=AccountState.DISABLED)
        & Q(
            Exists(
                MailboxLink.objects.filter(
                    account_id=OuterRef("pk"), mailbox__risk__in=rules.NEEDS_HELPDESK
                )
            )
        ),
    }


def attention() -> Q:
    """The accounts some to-do holds."""
    return reduce(or_, arms().values())


def depends_on() -> tuple:
    """Every value the two expressions read besides the rows: a query compiled from them
    once (prepared.run) is compiled anew when one changes."""
    return rules.london_today(), settings.REMOVAL_CHASE_DAYS, tuple(rules.NEEDS_HELPDESK)


def judged_on(today=None):
    """The date an account's home was last judged (`today`, by default London's, before
    any check)."""
    return Coalesce(F("home__checked_as_of"), Value(today or rules.london_today()))


def todo(today=None) -> Case:
    """Which to-do an account of attention() is on (StaffAccount.removal_overdue is the same
    rule for one account); `today` as for judged_on()."""
    return Case(
        When(state=AccountState.DISABLED, then=Value("reactivate")),
        When(~Q(state=AccountState.LEFT), then=Value("to_chase")),
        When(removal_requested_on=None, then=Value("leavers")),
        When(
            removal_requested_on__lte=ExpressionWrapper(
                judged_on(today) - timedelta(days=settings.REMOVAL_CHASE_DAYS),
                output_field=DateField(),
            ),
            then=Value("chase_removal"),
        ),
        default=Value("waiting"),
        output_field=CharField(),
    )
