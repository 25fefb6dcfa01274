"""A home's staff as the home page shows them: each person's words worked out once, in
Python, and marked up here in both of the page's layouts (a card on a phone, a table row on
a wider screen). Fifty people in two layouts through the template (a dozen tags each, four
action links each) cost more than every query on the page; this keeps the page's cost flat
and its two layouts in step."""

from dataclasses import dataclass, field

from django.urls import reverse
from django.utils.html import format_html, format_html_join
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
    card_html: SafeString = SafeString("")  # the person as a card (CARD)
    table_html: SafeString = SafeString("")  # the person as a table row (TABLE_ROW)

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


CARD = (
    '<li class="nhsuk-card portal-staff-card"><div class="nhsuk-card__content">'
    '<h3 class="nhsuk-card__heading nhsuk-heading-s portal-wrap">{name}</h3>'
    '<p>{state} <span class="nhsuk-body-s">{meaning}.</span></p>'
    '<dl class="nhsuk-summary-list">'
    '<div class="nhsuk-summary-list__row"><dt class="nhsuk-summary-list__key">Email</dt>'
    '<dd class="nhsuk-summary-list__value portal-wrap">{email}</dd></div>{deadline}'
    '<div class="nhsuk-summary-list__row"><dt class="nhsuk-summary-list__key">Last activity'
    '</dt><dd class="nhsuk-summary-list__value">{activity}</dd></div>'
    '<div class="nhsuk-summary-list__row"><dt class="nhsuk-summary-list__key">Shared '
    'mailboxes</dt><dd class="nhsuk-summary-list__value portal-wrap">{mailboxes}</dd></div>'
    "</dl>{removal}{actions}</div></li>"
)
CARD_DEADLINE = (
    '<div class="nhsuk-summary-list__row"><dt class="nhsuk-summary-list__key">{}</dt>'
    '<dd class="nhsuk-summary-list__value">{}</dd></div>'
)
CARD_ACTION = (
    '<a class="nhsuk-button nhsuk-button--secondary nhsuk-button--small" href="{}">{}'
    '<span class="nhsuk-u-visually-hidden"> for {}</span></a>'
)
TABLE_ROW = (
    '<tr class="nhsuk-table__row"><td class="nhsuk-table__cell">{display_name}<br>'
    '<span class="nhsuk-body-s portal-wrap">{email}</span></td>'
    '<td class="nhsuk-table__cell">{state}{removal}</td>'
    '<td class="nhsuk-table__cell">{activity}</td>'
    '<td class="nhsuk-table__cell">{days}</td>'
    '<td class="nhsuk-table__cell">{deadline}</td>'
    '<td class="nhsuk-table__cell portal-wrap">{mailboxes}</td>'
    '<td class="nhsuk-table__cell"><ul class="nhsuk-list nhsuk-body-s">{actions}</ul></td></tr>'
)
TABLE_ACTION = '<li><a href="{}">{}<span class="nhsuk-u-visually-hidden"> for {}</span></a></li>'


def _mark_up(row: StaffRow) -> None:
    """Sets the row's card_html and table_html from its words."""
    whom = f"{row.name} ({row.email})"
    activity = row.activity_on
    if row.activity_from:
        activity = format_html('{} <span class="nhsuk-body-s">({})</span>', activity,
                               row.activity_from)  # fmt: skip
    removal = format_html('<p class="nhsuk-body-s">{}</p>', row.removal) if row.removal else ""
    card_actions = format_html_join("", CARD_ACTION, ((u, w, whom) for u, w in row.actions))
    row.card_html = format_html(
        CARD,
        name=row.name_html,
        state=row.state_html,
        meaning=row.state_meaning,
        email=row.email_html,
        deadline=format_html(CARD_DEADLINE, row.deadline_label, row.deadline)
        if row.deadline
        else "",
        activity=activity,
        mailboxes=row.mailboxes_html,
        removal=removal,
        actions=format_html('<div class="portal-staff-card__actions">{}</div>', card_actions)
        if row.actions
        else "",
    )
    row.table_html = format_html(
        TABLE_ROW,
        display_name=row.display_name,
        email=row.email_html,
        state=row.state_html,
        removal=removal,
        activity=activity,
        days="" if row.days is None else row.days,
        deadline=row.deadline,
        mailboxes=row.mailboxes_html,
        actions=format_html_join("", TABLE_ACTION, ((u, w, whom) for u, w in row.actions)),
    )


def rows(accounts, home, mailbox_ids) -> list[StaffRow]:
    """One row per account (each with `home`, `days_left` and `mailbox_list`, as
    dashboard.home_accounts gives them); mailbox_ids: the home's shared mailboxes."""
    found, urls, home_boxes = [], {}, set(mailbox_ids)
    for account in accounts:
        label, deadline = _deadline(account)
        activity_on, activity_from = _activity(account)
        name = account.display_name or account.email
        mailboxes = [email_breaks(m.email) for m in account.mailbox_list]
        row = StaffRow(
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
            actions=_actions(account, home, home_boxes, urls),
        )
        _mark_up(row)
        found.append(row)
    return found
