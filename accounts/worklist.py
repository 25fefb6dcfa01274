"""The admin's weekly worklist: across every home they may see, the people some home must
chase or have removed, and the shared mailboxes that need a call to the helpdesk. The
people are classified by todos.py, the same rule as the home cards; a page or a download
costs the same few queries whatever the number of homes."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.db.models import Case, F, IntegerField, QuerySet, Value, When

from . import rules, todos
from .dashboard import region_choices
from .models import Region, SharedMailbox, StaffAccount
from .rules import AccountState, MailboxRisk
from .scoping import homes_for

# The NHSmail national helpdesk, as the guidance and the home cards give it.

# What each to-do asks of the home, in words; the worklist lists them in this order.
TODO_WORDS = {
    "to_chase": "Ask them to log in",
    "reactivate": "Ask the helpdesk to enable their account again",
    "chase_removal": "Chase the helpdesk: removal asked for and not done",
    "leavers": "Ask the helpdesk to remove them",
    "waiting": "Removal asked for: waiting for NHSmail",
}
_TODO_PLACE = Case(
    *(When(todo=name, then=Value(place)) for place, name in enumerate(TODO_WORDS)),
    output_field=IntegerField(),
)
_RISK_PLACE = Case(
    *(When(risk=risk, then=Value(place)) for place, risk in enumerate(rules.RISK_ORDER)),
    output_field=IntegerField(),
)

PEOPLE_FIELDS = ("email", "display_name", "state", "disable_date", "left_on",
                 "removal_requested_on", "home__name", "home__ods_code",
                 "home__checked_as_of")  # fmt: skip
MAILBOX_FIELDS = ("email", "risk", "forecast_date", "home__name", "home__ods_code",
                  "home__registered_landline", "home__checked_as_of")  # fmt: skip


class Rows:
    """A queryset of dicts, each finished by `finish` when read: pages slice it (Paginator
    counts it in SQL), downloads iterate it in chunks."""

    def __init__(self, queryset: QuerySet, finish):
        self.queryset, self.finish = queryset, finish

    def count(self) -> int:
        return self.queryset.count()

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self.finish(row) for row in self.queryset[index]]
        return self.finish(self.queryset[index])

    def __iter__(self) -> Iterator[dict]:
        return (self.finish(row) for row in self.queryset.iterator(chunk_size=2000))


def region_for(user, value) -> Region | None:
    """The region a worklist is filtered by: one of the user's own, else none."""
    value = str(value or "")
    valid = value.isascii() and value.isdigit()
    return region_choices(user).filter(pk=int(value)).first() if valid else None


def _homes(user, region: Region | None):
    homes = homes_for(user)
    return homes if region is None else homes.filter(region=region)


def _person(row: dict) -> dict:
    as_of: date = row["home__checked_as_of"] or rules.london_today()
    since = row["removal_requested_on"] or (row["left_on"] if row["todo"] == "leavers" else None)
    return {
        "todo": row["todo"],
        "what_to_do": TODO_WORDS[row["todo"]],
        "name": row["display_name"] or row["email"],
        "email": row["email"],
        "home": row["home__name"],
        "ods_code": row["home__ods_code"],
        "state": AccountState(row["state"]).label,
        "log_in_by": row["disable_date"] if row["todo"] == "to_chase" else None,
        "removal_requested_on": row["removal_requested_on"],
        "waiting_since": since,
        "days_waiting": (as_of - since).days if since else None,
        "as_of": as_of,
    }


def rows(user, region: Region | None = None) -> Rows:
    """The people on the worklist of this user (within one of their regions), as dicts:
    todo (todos.TODOS), what_to_do, name, email, home, ods_code, state (in words),
    log_in_by, removal_requested_on, waiting_since, days_waiting, as_of. The most pressing
    first: to chase by log-in date, then the leavers, each home by its ODS code."""
    queryset = (
        StaffAccount.objects.filter(home__in=_homes(user, region))
        .filter(todos.attention())
        .annotate(todo=todos.todo())
        .annotate(place=_TODO_PLACE)
        .order_by("place", F("disable_date").asc(nulls_last=True),
                  F("removal_requested_on").asc(nulls_last=True), "home__ods_code", "email")
        .values("todo", *PEOPLE_FIELDS)
    )  # fmt: skip
    return Rows(queryset, _person)


@dataclass(frozen=True)
class HelpdeskCall:
    phone: str
    ods_code: str
    landline: str

    def __str__(self) -> str:
        landline = (
            f"the registered landline {self.landline}"
            if self.landline
            else ("the home's registered landline")
        )
        return (
            f"Call {self.phone} with ODS code {self.ods_code} to hand, from {landline}, and ask "
            "for a new individual account linked to this mailbox"
        )


def _mailbox(row: dict) -> dict:
    call = HelpdeskCall(
        settings.HELPDESK_PHONE, row["home__ods_code"], row["home__registered_landline"]
    )
    return {
        "email": row["email"],
        "risk": MailboxRisk(row["risk"]).label,
        "home": row["home__name"],
        "ods_code": row["home__ods_code"],
        "landline": row["home__registered_landline"],
        "helpdesk_phone": settings.HELPDESK_PHONE,
        "call": str(call),
        "as_of": row["home__checked_as_of"],
    }


def mailboxes(user, region: Region | None = None) -> Rows:
    """The shared mailboxes of this user's homes that need a call to the helpdesk
    (rules.NEEDS_HELPDESK), orphaned first, as dicts: email, risk (in words), home,
    ods_code, landline, helpdesk_phone, call (what to say), as_of."""
    queryset = (
        SharedMailbox.objects.filter(home__in=_homes(user, region))
        .filter(risk__in=rules.NEEDS_HELPDESK)
        .annotate(place=_RISK_PLACE)
        .order_by("place", "home__ods_code", "email")
        .values(*MAILBOX_FIELDS)
    )
    return Rows(queryset, _mailbox)


CSV_COLUMNS = {
    "what_to_do": "What to do",
    "name": "Name",
    "email": "Email address",
    "home": "Home",
    "ods_code": "ODS code",
    "state": "State or risk",
    "log_in_by": "Log in by",
    "waiting_since": "Waiting since",
    "days_waiting": "Days waiting",
    "call": "Helpdesk call",
}


def csv_rows(user, region: Region | None = None) -> Iterator[dict]:
    """The worklist as one sheet: the people, then the mailboxes to call about."""
    for person in rows(user, region):
        yield {key: person.get(key) for key in CSV_COLUMNS if key != "call"} | {"call": None}
    for box in mailboxes(user, region):
        yield {
            "what_to_do": "Call the helpdesk about this shared mailbox",
            "name": None,
            "email": box["email"],
            "home": box["home"],
            "ods_code": box["ods_code"],
            "state": box["risk"],
            "log_in_by": None,
            "waiting_since": None,
            "days_waiting": None,
            "call": box["call"],
        }
