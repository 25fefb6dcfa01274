"""What each import file holds: its columns (with the aliases real exports use), how each
cell is read, and the staging table a file is loaded into before it is checked as a whole."""

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as dtime
from functools import cached_property, lru_cache

from ..exports import FORMULA_START
from ..rules import (
    EARLIEST_DATE,
    LONDON,
    AccountState,
    ReportedStatus,
    date_problem,
    is_valid_ods_code,
    london_today,
    normalise_email,
    normalise_ods_code,
)
from .csvfiles import header_key, parse_date, parse_moment, shown

LEAVER = "leaver"
STATUSES = {
    "active": ReportedStatus.ACTIVE.value,
    "enabled": ReportedStatus.ACTIVE.value,
    "disabled": ReportedStatus.DISABLED.value,
    "deleted": ReportedStatus.DELETED.value,
    "leaver": LEAVER,
    "left": LEAVER,
}


# Reports repeat the same few homes, mailboxes, statuses and dates on thousands of rows:
# reading each distinct cell once keeps a million-row import cheap.
@lru_cache(maxsize=65536)
def ods_code(text: str) -> str:
    code = normalise_ods_code(text)
    if not is_valid_ods_code(code):
        raise ValueError(f"{shown(text)} is not a valid ODS code: use 3 to 6 letters or digits")
    return code


# One @, a dot in the domain, no spaces: what NHSmail and every report we have seen use.
EMAIL_RE = re.compile(r"^[^@\s,;<>\"]+@[^@\s,;<>\"]+\.[a-z0-9-]{2,}$")


def email(text: str) -> str:
    value = normalise_email(text)
    if len(value) > 254 or not EMAIL_RE.match(value):
        raise ValueError(f"{shown(text)} is not a valid email address")
    return value


def state_words() -> dict[str, str]:
    """A portal download's states, in words (the AccountState labels), as reported statuses:
    someone who left is a leaver, a disabled or deleted account is so reported, and any other
    state (active, at risk, inactive) is an account NHSmail still has as active."""
    reported = {
        AccountState.DISABLED: ReportedStatus.DISABLED.value,
        AccountState.DELETED: ReportedStatus.DELETED.value,
        AccountState.LEFT: LEAVER,
    }
    return {
        str(state.label).strip().lower(): reported.get(state, ReportedStatus.ACTIVE.value)
        for state in AccountState
    }


@lru_cache(maxsize=256)
def status(text: str) -> str:
    key = text.strip().lower()
    if not key:
        return ReportedStatus.ACTIVE.value
    if key not in STATUSES:
        if key in (words := state_words()):
            return words[key]
        raise ValueError(f"{shown(text)} is not a status: use active, disabled, deleted or leaver")
    return STATUSES[key]


@lru_cache(maxsize=65536)
def mailbox_list(text: str) -> tuple[str, ...]:
    found: list[str] = []
    for part in text.replace(",", ";").split(";"):
        if part.strip():
            value = email(part)
            if value not in found:
                found.append(value)
    return tuple(found)


class _Plausible:
    """The dates rules.date_problem lets through today, [EARLIEST_DATE, tomorrow], for as
    long as today lasts: asking the clock for London's date on every cell cost a million-row
    import seconds. The span of today is kept in epoch seconds, so a clock that moves (or is
    moved, as tests do) either way is noticed at once."""

    def __init__(self):
        self.today = (0.0, 0.0, EARLIEST_DATE)  # (today starts, ends: epoch seconds; tomorrow)

    def allows(self, on: date) -> bool:
        now = time.time()
        starts, ends, latest = self.today  # one tuple: threads never see half of a change
        if not starts <= now < ends:
            today = london_today()
            starts = datetime.combine(today, dtime(), LONDON).timestamp()
            ends = datetime.combine(today + timedelta(days=1), dtime(), LONDON).timestamp()
            latest = today + timedelta(days=1)
            self.today = (starts, ends, latest)
        return EARLIEST_DATE <= on <= latest


_plausible = _Plausible()


def plausible(parse: Callable[[str], object]) -> Callable[[str], object]:
    """A date reader that refuses dates no account can have (rules.date_problem). Parsing is
    cached; the range is judged on every call, since "tomorrow" moves."""
    cached = lru_cache(maxsize=65536)(parse)

    def read(text: str):
        value = cached(text)
        on = value[1] if isinstance(value, tuple) else value
        if on is None or _plausible.allows(on):
            return value
        if problem := date_problem(on):
            raise ValueError(f"{shown(text)} {problem}")
        return value

    return read


def text_field(max_length: int) -> Callable[[str], str | None]:
    def read(text: str) -> str | None:
        value = text.strip()
        # Our downloads write '=x for a cell =x (so no spreadsheet runs it): read it back.
        if value[:1] == "'" and value[1:2] and value[1] in FORMULA_START:
            value = value[1:]
        if len(value) > max_length:
            raise ValueError(f"is {len(value)} characters long; the most allowed is {max_length}")
        return value or None

    return read


@dataclass(frozen=True)
class Column:
    name: str
    read: Callable[[str], object]
    required: bool = False
    aliases: tuple[str, ...] = ()
    label: str = ""  # the column's name as people know it; the portal's downloads use it

    @property
    def shown(self) -> str:
        return self.label or self.name

    def header_keys(self) -> set[str]:
        return {header_key(self.name), *(header_key(a) for a in self.aliases)}


ODS = Column(
    "ods_code",
    ods_code,
    required=True,
    label="ODS code",
    aliases=("ODS", "ODS Code", "Org Code", "Organisation Code", "Organization Code",
             "Org ODS Code", "Site Code", "Site ODS Code"),
)  # fmt: skip
EMAIL_ALIASES = ("Email Address", "E-mail", "Mail", "Primary SMTP Address",
                 "NHSmail Address", "User Principal Name", "UPN")  # fmt: skip
DISPLAY_NAME = Column(
    "display_name",
    text_field(200),
    aliases=("Display Name", "Full Name", "Name"),
    label="Name",
)


@dataclass(frozen=True)
class Spec:
    kind: str
    key: str
    columns: tuple[Column, ...]

    @cached_property
    def by_header_key(self) -> dict[str, Column]:
        found: dict[str, Column] = {}
        for column in self.columns:
            for key in column.header_keys():
                found.setdefault(key, column)
        return found

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    def match(self, header: list[str]) -> tuple[dict[str, int], list[str], list[tuple]]:
        """Which file column feeds each of ours, the required ones missing, and the file's
        columns that repeat one already found: (our column, first header, second header)."""
        positions: dict[str, int] = {}
        repeats = []
        for index, name in enumerate(header):
            column = self.by_header_key.get(header_key(name))
            if column is None:
                continue
            if column.name in positions:
                repeats.append((column.name, header[positions[column.name]], name))
            else:
                positions[column.name] = index
        missing = [c.name for c in self.columns if c.required and c.name not in positions]
        return positions, missing, repeats


HOMES = Spec(
    kind="homes",
    key="ods_code",
    columns=(
        ODS,
        Column(
            "name",
            text_field(200),
            required=True,
            label="Home name",
            aliases=("Home Name", "Care Home", "Care Home Name", "Site Name", "Organisation Name"),
        ),
        Column(
            "registered_landline",
            text_field(30),
            aliases=("Landline", "Telephone", "Phone", "Phone Number", "Registered Phone"),
            label="Registered landline",
        ),
        Column(
            "cqc_location_id",
            text_field(20),
            aliases=("CQC Location", "CQC ID", "Location ID"),
            label="CQC location ID",
        ),
        Column(
            "region", text_field(120), aliases=("Area", "ICB", "Local Authority"), label="Region"
        ),
    ),  # fmt: skip
)
MAILBOXES = Spec(
    kind="mailboxes",
    key="email",
    columns=(
        ODS,
        Column(
            "email",
            email,
            required=True,
            aliases=(*EMAIL_ALIASES, "Shared Mailbox", "Shared Mailbox Address", "Mailbox"),
            label="Shared mailbox address",
        ),
        DISPLAY_NAME,
    ),  # fmt: skip
)
ACCOUNTS = Spec(
    kind="accounts",
    key="email",
    columns=(
        Column("email", email, required=True, aliases=EMAIL_ALIASES, label="Email address"),
        ODS,
        DISPLAY_NAME,
        Column(
            "status", status, aliases=("Account Status", "User Status", "State"), label="Status"
        ),
        Column(
            "last_activity",
            plausible(parse_moment),
            label="Last activity",
            aliases=(
                "Last Activity",
                "Last Activity Date",
                "Last Logon",
                "Last Logon Time",
                "Last Logon Date",
                "Last Login",
                "Last Login Date",
                "Last Sign In",
            ),
        ),
        Column(
            "created",
            plausible(parse_date),
            label="Date created",
            aliases=(
                "Created Date",
                "Date Created",
                "When Created",
                "Creation Date",
                "Account Created",
            ),
        ),
        Column(
            "shared_mailboxes",
            mailbox_list,
            label="Shared mailboxes",
            aliases=("Shared Mailbox", "Shared Mailboxes", "Mailboxes", "Linked Mailboxes"),
        ),
    ),  # fmt: skip
)
SPECS = {spec.kind: spec for spec in (HOMES, MAILBOXES, ACCOUNTS)}

KIND_NAMES = {
    "accounts": ("an accounts report", "staff NHSmail accounts"),
    "mailboxes": ("a shared mailboxes file", "shared mailboxes"),
    "homes": ("a care homes file", "care homes"),
}


# Microsoft 365 admin centre usage reports, as downloaded (Reports > Usage). NHSmail runs on
# Microsoft 365, so regional teams have these. One row per user; the columns used here are
# documented by Microsoft for every report of this family, the rest (counts, products,
# licences, "Report Period") are ignored.
REPORT_REFRESH_DATE = "Report Refresh Date"
IS_DELETED = "Is Deleted"
USER_PRINCIPAL_NAME = "User Principal Name"


@dataclass(frozen=True)
class UsageReport:
    label: str
    signature: tuple[str, ...]  # the columns that identify it
    activity: tuple[str, ...]  # its last-activity columns: the latest of them counts

    def matches(self, header_keys: set[str]) -> bool:
        return {header_key(name) for name in self.signature} <= header_keys


_SIGNATURE = (REPORT_REFRESH_DATE, USER_PRINCIPAL_NAME, IS_DELETED)
USAGE_REPORTS = (
    UsageReport(
        "Microsoft 365 active users report",
        signature=(*_SIGNATURE, "Exchange Last Activity Date"),
        # Any product's activity is a sign-in with the NHSmail account.
        activity=tuple(
            f"{product} Last Activity Date"
            for product in (
                "Exchange",
                "OneDrive",
                "SharePoint",
                "Skype For Business",
                "Yammer",
                "Teams",
            )
        ),
    ),  # fmt: skip
    UsageReport(
        "Microsoft 365 email activity report",
        signature=(*_SIGNATURE, "Last Activity Date", "Send Count"),
        activity=("Last Activity Date",),
    ),
    # Mailbox usage, OneDrive and the like share the same first columns.
    UsageReport(
        "Microsoft 365 usage report",
        signature=(*_SIGNATURE, "Last Activity Date"),
        activity=("Last Activity Date",),
    ),
)


def usage_report(header: list[str]) -> UsageReport | None:
    keys = {header_key(name) for name in header}
    return next((report for report in USAGE_REPORTS if report.matches(keys)), None)


def is_deleted(text: str) -> str | None:
    """Microsoft 365's Is Deleted: True means deleted. False says nothing about an account
    being disabled, so it leaves the status the portal has (a new account is active)."""
    key = text.strip().lower()
    if key in ("true", "yes", "1"):
        return ReportedStatus.DELETED.value
    if key in ("false", "no", "0", ""):
        return None
    raise ValueError(f"{IS_DELETED}: {text.strip()!r} is neither True nor False")
