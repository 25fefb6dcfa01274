"""A home's staff as the home page shows them: each person's words worked out once, in
Python, and printed twice by the template (a card on a phone, a table row on a wider
screen). Fifty people in two layouts through template includes cost more than every query
on the page; this keeps the page's cost flat and its two layouts in step."""

from dataclasses import dataclass, field

from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.safestring import SafeString

from . import actions
from .dashboard import short_date
from .rules import AccountState, ReportedStatus
from .templatetags.portal import email_breaks, state_meaning, state_tag

# What each action's link says (the action page's own title is longer).
ACTION_WORDS = {
    "seen-log-in": "I have seen them log in",
    "left": "Mark as left",
    "link": "Link to a mailbox",
    "removal-requested": "Record removal request",
}
TURNED_OFF = (AccountState.INACTIVE, AccountState.DISABLED)
GONE = (AccountState.LEFT, AccountState.DELETED)


@dataclass
class StaffRow:
    """One person's words; the *_html fields are marked up already (safe to print)."""

    name: str
    display_name: str
    email: str
    days: int | None  # days inactive, as judged
    name_html: SafeString
    email_html: SafeString
    state_html: SafeString
    state_meaning: str
    mailboxes_html: SafeString
    deadline_label: str = ""  # "Deadline" or "Turned off"; empty when no date matters
    deadline: str = ""
    activity_on: str = "Never"
    activity_from: str = ""  # where the last activity comes from, in words
    removal: str = ""  # where a leaver's removal stands
    actions: list[tuple[str, str]] = field(default_factory=list)  # (url, words)
    # The actions' links, marked up once for each layout: four links in two layouts for
    # each of fifty people through template loops cost more than the rest of the page.
    card_actions_html: SafeString = SafeString("")
    table_actions_html: SafeString = SafeString("")

    def __getitem__(self, name: str):
        # Django's templates try row[name] before row.name; answering it saves them an
        # exception on every one of the thousand-odd lookups of a page of fifty people.
        return getattr(self, name)


def _deadline(account) -> tuple[str, str]:
    day = account.disable_date
    if day is None or account.state in GONE:
        return "", ""
    if account.state in TURNED_OFF:
        return "Turned off", f"Disabled on {short_date(day)}"
    words = f"Log in by {short_date(day)}"
    left = account.days_left
    if left is not None and left > 0:
        words += f" ({left} day{'' if left == 1 else 's'} left)"
    return "Deadline", words


def _activity(account) -> tuple[str, str]:
    attested, reported = account.attested_on, account.last_activity_date
    if attested and (reported is None or attested >= reported):
        source = "a manager saw them log in" if account.attested_by_id else "their own check-in"
        return short_date(attested), source
    if reported:
        return short_date(reported), "NHSmail report"
    return "Never", ""


def _removal(account) -> str:
    asked = account.removal_requested_on
    if asked is None:
        return ""
    if account.reported_status == ReportedStatus.DELETED:
        return "Removed by NHSmail"
    if account.state != AccountState.LEFT:
        return ""
    if account.removal_overdue:
        return f"Removal asked for on {short_date(asked)} and still not done: chase the helpdesk"
    words = f"Waiting for NHSmail since {short_date(asked)}"
    if by := account.removal_requested_by:
        words += f" (asked by {by.full_name or by.email})"
    return words


# An account id no account has, reversed in its place once per page and action: fifty
# people's three links each cost 150 reverse() calls, half of this module's time.
_STAND_IN = 987654321987654321


def _action_url(home, slug: str, account_id: int, urls: dict) -> str:
    if slug not in urls:
        urls[slug] = reverse("account_action", args=[home.ods_code, _STAND_IN, slug]).split(
            str(_STAND_IN)
        )
    before, after = urls[slug]
    return f"{before}{account_id}{after}"


def _actions(account, home, home_boxes: set, urls: dict) -> list[tuple[str, str]]:
    linkable = len(home_boxes - {m.pk for m in account.mailbox_list})
    found = []
    for slug in actions.offers(account, linkable):
        words = ACTION_WORDS[slug]
        if slug == "removal-requested" and account.removal_requested_on:
            words = "Record a new removal request"
        found.append((_action_url(home, slug, account.pk, urls), words))
    return found


def _actions_html(links: list[tuple[str, str]], name: str, email: str, markup: str):
    """Each action's link in `markup` ({url}, {words}, {whom}), the person named for
    screen readers."""
    whom = f"{name} ({email})"
    return format_html_join("", markup, ((url, words, whom) for url, words in links))


CARD_ACTION = (
    '<a class="nhsuk-button nhsuk-button--secondary nhsuk-button--small" href="{}">{}'
    '<span class="nhsuk-u-visually-hidden"> for {}</span></a>'
)
TABLE_ACTION = '<li><a href="{}">{}<span class="nhsuk-u-visually-hidden"> for {}</span></a></li>'


def rows(accounts, home, mailbox_ids) -> list[StaffRow]:
    """One row per account (each with `home`, `days_left` and `mailbox_list`, as
    dashboard.home_accounts gives them); mailbox_ids: the home's shared mailboxes."""
    found, urls, home_boxes = [], {}, set(mailbox_ids)
    for account in accounts:
        label, deadline = _deadline(account)
        activity_on, activity_from = _activity(account)
        name = account.display_name or account.email
        mailboxes = [email_breaks(m.email) for m in account.mailbox_list]
        links = _actions(account, home, home_boxes, urls)
        found.append(
            StaffRow(
                name=name,
                display_name=account.display_name,
                email=account.email,
                days=account.days,
                name_html=email_breaks(name),
                email_html=email_breaks(account.email),
                state_html=state_tag(account.state),
                state_meaning=state_meaning(account.state),
                mailboxes_html=format_html_join(", ", "{}", ((m,) for m in mailboxes))
                if mailboxes
                else SafeString("None"),
                deadline_label=label,
                deadline=deadline,
                activity_on=activity_on,
                activity_from=activity_from,
                removal=_removal(account),
                actions=links,
                card_actions_html=_actions_html(links, name, account.email, CARD_ACTION),
                table_actions_html=_actions_html(links, name, account.email, TABLE_ACTION),
            )
        )
    return found
