"""The hygiene rules, written once.

Pure functions for one account or mailbox (pages, tests, imports) and the thresholds the
set-based check in checks.py uses. Dates are London dates; "as of" is always a parameter.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import models

LONDON = ZoneInfo("Europe/London")
ODS_CODE_RE = re.compile(r"^[A-Z0-9]{3,6}$")
# No NHSmail account is older than this: an earlier date is a typo, as is one after tomorrow.
EARLIEST_DATE = date(1990, 1, 1)


class ReportedStatus(models.TextChoices):
    """What the NHSmail report says about an account. A report's `leaver` means left at any
    as-of date; a manager's "left on" date (StaffAccount.left_on) means left from that date."""

    ACTIVE = "active", "Active"
    DISABLED = "disabled", "Disabled"
    DELETED = "deleted", "Deleted"
    LEAVER = "leaver", "Left (the report says so)"


class AccountState(models.TextChoices):
    """The values are the outside contract (exports, API); the labels are what people read.
    Each state's sentence is STATE_MEANING below."""

    ACTIVE = "active", "Active"
    AT_RISK = "at_risk", "Log in soon"
    INACTIVE = "inactive", "Inactive"
    DISABLED = "disabled", "Disabled"
    DELETED = "deleted", "Deleted"
    LEFT = "left", "Left"


class MailboxRisk(models.TextChoices):
    """An account "at risk" (log in soon) and a mailbox "at risk" (no active user) are
    different things, so their labels differ though the stored values match."""

    ORPHANED = "orphaned", "No linked account"
    AT_RISK = "at_risk", "No active user"
    SINGLE_USER = "single_user", "One active user"
    HEALTHY = "healthy", "Healthy"


# One sentence per state and risk, for pages and emails (labels are the choices' labels).
STATE_MEANING = {
    AccountState.ACTIVE: "Used recently: nothing to do",
    AccountState.AT_RISK: "Not used for a while: they must log in before the date shown",
    AccountState.INACTIVE: "Not used for too long: NHSmail is turning this account off",
    AccountState.DISABLED: "Turned off by NHSmail: call the helpdesk to get it back",
    AccountState.DELETED: "Removed from NHSmail",
    AccountState.LEFT: "No longer works here: ask NHSmail to remove the account",
}
RISK_MEANING = {
    MailboxRisk.ORPHANED: "No linked account is left that can open this mailbox",
    MailboxRisk.AT_RISK: "Nobody active can open this mailbox: everyone linked is inactive or off",
    MailboxRisk.SINGLE_USER: "Only one active person can open this mailbox",
    MailboxRisk.HEALTHY: "Two or more active people can open this mailbox",
}


def state_label(value: str | None) -> str:
    return _STATE_LABELS.get(value, "Not checked yet")


def risk_label(value: str | None) -> str:
    return _RISK_LABELS.get(value, "Not checked yet")


# Looked up per row on busy pages: a dict, not the choices list built anew on each call.
_STATE_LABELS = dict(AccountState.choices)
_RISK_LABELS = dict(MailboxRisk.choices)


# A linked account keeps its shared mailbox open while it is in one of these states.
KEEPS_MAILBOX_ALIVE = (AccountState.ACTIVE, AccountState.AT_RISK)
# A linked account in one of these states no longer counts as a way into the mailbox at all.
GONE = (AccountState.LEFT, AccountState.DELETED)
# A home with a mailbox at one of these risks must call the helpdesk.
NEEDS_HELPDESK = (MailboxRisk.ORPHANED, MailboxRisk.AT_RISK)
# Riskiest first: the order dashboards rank by.
RISK_ORDER = (
    MailboxRisk.ORPHANED,
    MailboxRisk.AT_RISK,
    MailboxRisk.SINGLE_USER,
    MailboxRisk.HEALTHY,
)


def worst_risk(rank) -> str | None:
    """A home's worst mailbox risk from the rank the check keeps (its place in RISK_ORDER);
    None for a home with no mailbox checked."""
    return RISK_ORDER[rank].value if isinstance(rank, int) and rank < len(RISK_ORDER) else None


@dataclass(frozen=True)
class Thresholds:
    inactivity_days: int
    warning_days: int

    @classmethod
    def from_settings(cls) -> "Thresholds":
        return cls(settings.INACTIVITY_DAYS, settings.WARNING_DAYS)

    def inactive_on_or_before(self, as_of: date) -> date:
        """Accounts whose last activity is on or before this date are inactive."""
        return as_of - timedelta(days=self.inactivity_days)

    def at_risk_on_or_before(self, as_of: date) -> date:
        return as_of - timedelta(days=self.warning_days)

    def disable_date(self, activity_on: date | None) -> date | None:
        return None if activity_on is None else activity_on + timedelta(days=self.inactivity_days)


def normalise_ods_code(value: str) -> str:
    return (value or "").strip().upper()


def is_valid_ods_code(value: str) -> bool:
    return bool(ODS_CODE_RE.match(value))


def normalise_email(value: str) -> str:
    return (value or "").strip().lower()


def london_today() -> date:
    return datetime.now(LONDON).date()


def date_problem(on: date, today: date | None = None) -> str | None:
    """Why a date given for an account (activity, creation, a manager's word) cannot be
    true, or None. Tomorrow is allowed: a report's clock may be ahead of London's."""
    if on < EARLIEST_DATE:
        return f"is before {EARLIEST_DATE:%-d %B %Y}"
    if on > (today or london_today()) + timedelta(days=1):
        return "is in the future"
    return None


def london_date(moment: datetime | None) -> date | None:
    """The calendar date in London of an aware datetime (naive ones are taken as London time)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.date()
    return moment.astimezone(LONDON).date()


def activity_date(
    last_activity_on: date | None, first_recorded: date | None, attested_on: date | None = None
) -> date | None:
    """The date inactivity counts from: the last reported activity, or for a never-used
    account the date it was first recorded; a later log-in someone vouched for (a manager
    who saw it, or the person's own check-in) counts too."""
    reported = last_activity_on or first_recorded
    if attested_on and (reported is None or attested_on > reported):
        return attested_on
    return reported


def days_inactive(activity_on: date | None, as_of: date) -> int | None:
    return None if activity_on is None else (as_of - activity_on).days


def days_inactive_as_judged(
    disable_date: date | None, as_of: date | None, thresholds: "Thresholds"
) -> int | None:
    """Days inactive as the check judged them: counted from the activity date behind the
    disable date it set, as of the date it judged. So the figure never contradicts the
    state and disable date beside it, even while a later log-in awaits its recheck."""
    if disable_date is None or as_of is None:
        return None
    return days_inactive(disable_date - timedelta(days=thresholds.inactivity_days), as_of)


def account_state(
    *,
    left_on: date | None,
    reported_status: str,
    activity_on: date | None,
    as_of: date,
    thresholds: Thresholds,
) -> AccountState:
    """First match wins: left (the report says so, or a manager's date on or before as_of),
    deleted, disabled, inactive, at_risk, active."""
    if reported_status == ReportedStatus.LEAVER or (left_on is not None and left_on <= as_of):
        return AccountState.LEFT
    if reported_status == ReportedStatus.DELETED:
        return AccountState.DELETED
    if reported_status == ReportedStatus.DISABLED:
        return AccountState.DISABLED
    if activity_on is not None and activity_on <= thresholds.inactive_on_or_before(as_of):
        return AccountState.INACTIVE
    if activity_on is not None and activity_on <= thresholds.at_risk_on_or_before(as_of):
        return AccountState.AT_RISK
    return AccountState.ACTIVE


def mailbox_risk(linked_states: Iterable[str]) -> MailboxRisk:
    """First match wins: orphaned, at_risk, single_user, healthy."""
    states = list(linked_states)
    alive = sum(1 for s in states if s in KEEPS_MAILBOX_ALIVE)
    if all(s in GONE for s in states):
        return MailboxRisk.ORPHANED
    if alive == 0:
        return MailboxRisk.AT_RISK
    if alive == 1:
        return MailboxRisk.SINGLE_USER
    return MailboxRisk.HEALTHY


def mailbox_forecast(
    linked: Iterable[tuple[str, date | None]], thresholds: Thresholds
) -> date | None:
    """The date the mailbox becomes at_risk if nobody logs in: the latest activity among
    the accounts that keep it alive, plus the inactivity threshold."""
    alive_dates = [on for state, on in linked if state in KEEPS_MAILBOX_ALIVE and on]
    return thresholds.disable_date(max(alive_dates)) if alive_dates else None
