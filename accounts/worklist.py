"""The admin's weekly worklist: across every home they may see, the people some home must
chase or have removed, and the shared mailboxes that need a call to the helpdesk. The
people are classified by todos.py, the same rule as the home cards; a page or a download
costs the same few queries whatever the number of homes."""

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from functools import cached_property, partial

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, Count, F, IntegerField, Q, QuerySet, Value, When, Window
from django.db.models.functions import RowNumber

from . import rules, todos, worklistcounts
from .dashboard import region_choices
from .models import Region, SharedMailbox, StaffAccount
from .rules import AccountState, MailboxRisk
from .scoping import homes_for
from .worklistcounts import EVERY_HOME, NO_REGION

# The NHSmail national helpdesk, as the guidance and the home cards give it.

# What each to-do asks of the home, in words; the worklist lists them in this order.
TODO_WORDS = {
    "to_chase": "Ask them to log in",
    "reactivate": "Ask the helpdesk to enable their account again",
    "chase_removal": "Chase the helpdesk: removal asked for and not done",
    "leavers": "Ask the helpdesk to remove them",
    "waiting": "Removal asked for: waiting for NHSmail",
}
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
    counts it), downloads iterate it in chunks. With `versions` (worklistcounts.versions_for)
    the count and each page are kept until a write changes them."""

    def __init__(self, make: Callable[[], QuerySet], finish, versions: tuple | None = None):
        """make: builds the queryset when a count or a page is not kept (building it costs
        more than a kept page)."""
        self.make, self.finish, self.versions = make, finish, versions

    @cached_property
    def queryset(self) -> QuerySet:
        return self.make()

    def count(self) -> int:
        return worklistcounts.kept(self.versions, "mailboxes", self.queryset.count)

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index: slice) -> list[dict]:
        page = ("mailboxes", index.start, index.stop)
        found = worklistcounts.kept(
            self.versions, page, lambda: list(self.queryset[index]), worklistcounts.PAGE_SECONDS
        )
        return [self.finish(row) for row in found]

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


# Within a to-do, people come by log-in date first: a page is found by counting each
# to-do's people per date, then read from the dates it covers.
_ORDER = (F("disable_date").asc(nulls_last=True), F("removal_requested_on").asc(nulls_last=True),
          "home__ods_code", "email")  # fmt: skip


def _accounts(user, region: Region | None, versions: tuple | None) -> QuerySet:
    homes = _homes(user, region)
    if not homes.query.has_filters():  # every home: nothing to restrict, no join to pay
        return StaffAccount.objects.all()
    # Some regions' homes, named by id (kept like the counts, as a write that moves a home
    # renews its regions' versions): PostgreSQL then reads a page's log-in dates for these
    # homes alone, where a subquery read every account of those dates in the country (one
    # region's first page: 40 ms to 11 ms at 1.5 million accounts).
    ids = worklistcounts.kept(versions, "homes", lambda: list(homes.values_list("pk", flat=True)))
    return StaffAccount.objects.filter(home_id__in=ids)


def _arms(accounts: QuerySet) -> dict[tuple[str, ...], QuerySet]:
    """The people of each arm of todos.attention(), with the to-do each is on: todos.todo()
    where an arm holds several, else the arm's one. Apart, PostgreSQL scans the plain arms
    in parallel and finds the disabled arm from the few risky mailboxes' links, where the
    whole OR probes the links of every account the first arms leave out."""
    return {
        todo_names: accounts.filter(arm).annotate(
            todo=todos.todo() if len(todo_names) > 1 else Value(todo_names[0])
        )
        for todo_names, arm in todos.arms().items()
    }


class People:
    """The worklist's people as one list for Paginator, to-do after to-do. One query counts
    every to-do's people per log-in date; a page then reads only the to-dos and dates it
    covers, so its cost does not grow with the number of people before it."""

    def __init__(self, arms: Callable[[], dict[tuple[str, ...], QuerySet]], versions=None):
        """arms: builds _arms() when a count or a page is not kept (building them costs
        more than reading a kept page)."""
        self.make_arms, self.versions = arms, versions
        self._groups: list[tuple[str, date | None, int]] | None = None

    @cached_property
    def arms(self) -> dict[tuple[str, ...], QuerySet]:
        return self.make_arms()

    @cached_property
    def by_todo(self) -> dict[str, QuerySet]:
        in_arm = {name: arm for names, arm in self.arms.items() for name in names}
        return {name: in_arm[name].filter(todo=name) for name in TODO_WORDS}

    def groups(self) -> list[tuple[str, date | None, int]]:
        """(to-do, log-in date, people) in the worklist's order, counted once for the homes
        of these regions until a write changes them (worklistcounts.py). Every home's are
        the sum of each region's, so a write in one region counts only that one again."""
        if self._groups is None:
            every_home = self.versions is not None and self.versions[0] == EVERY_HOME
            count = self._summed if every_home else partial(_count_groups, self.arms)
            self._groups = worklistcounts.kept(self.versions, "people", count)
        return self._groups

    def _summed(self) -> list[tuple[str, date | None, int]]:
        each = worklistcounts.kept_each(self.versions[1], "people", _count_regions)
        people: Counter = Counter()
        for groups in each.values():
            for name, day, n in groups:
                people[name, day] += n
        return _in_order((name, day, n) for (name, day), n in people.items())

    def count(self) -> int:
        """Kept apart from the groups: a kept page needs the count alone."""
        return worklistcounts.kept(
            self.versions, "people count", lambda: sum(n for _, _, n in self.groups())
        )

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index: slice) -> list[dict]:
        """A page in two statements whatever it spans (which people, then their rows),
        kept like the counts."""
        start, stop, _ = index.indices(self.count())
        page = partial(self._page, start, stop)
        return worklistcounts.kept(
            self.versions, ("people", start, stop), page, worklistcounts.PAGE_SECONDS
        )

    def _page(self, start: int, stop: int) -> list[dict]:
        parts, at = [], 0
        for name, dates in _runs(self.groups()):
            size = sum(n for _, n in dates)
            if at < stop and start < at + size:
                parts.append(_part(self.by_todo[name], dates, start - at, stop - at))
            at += size
        if not parts:
            return []
        place = _places(parts)  # found within the user's homes
        found = (
            StaffAccount.objects.filter(pk__in=place)
            .annotate(todo=todos.todo())
            .values("pk", "todo", *PEOPLE_FIELDS)
        )
        return [_person(row) for row in sorted(found, key=lambda row: place[row["pk"]])]

    def __iter__(self) -> Iterator[dict]:
        """Every person, to-do after to-do: one statement each, so on PostgreSQL they share
        one snapshot (REPEATABLE READ) unless the caller's transaction already holds one: a
        person the check moves to another to-do mid-download is listed once, not twice or
        never. (SQLite's readers would hold writers off for the whole download instead.)
        Its cursors are planned for reading every row, not the first tenth: planned for the
        first rows, they read the people by the disable date's index, row by row from the
        table (38 s instead of 14 s for 643,666 people at 1.5 million accounts)."""
        if connection.vendor != "postgresql" or connection.in_atomic_block:
            yield from self._each()
            return
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                cursor.execute("SET LOCAL cursor_tuple_fraction = 1")
            yield from self._each()

    def _each(self) -> Iterator[dict]:
        for queryset in self.by_todo.values():
            for row in _ordered(queryset).iterator(chunk_size=2000):
                yield _person(row)


def _ordered(queryset: QuerySet) -> QuerySet:
    return queryset.order_by(*_ORDER).values("todo", *PEOPLE_FIELDS)


# More regions than this to count again (after the nightly check, all of them): one
# statement for every home, grouped by region (about 1.3 s at 1.5 million accounts), rather
# than one for each region (90-150 ms each).
FEW_REGIONS = 4


def _count_regions(keys: list[int]) -> dict[int, list[tuple[str, date | None, int]]]:
    """Region key -> _count_groups() of its homes, for these regions of every home."""
    if len(keys) > FEW_REGIONS:
        counted = _count_groups(_arms(StaffAccount.objects.all()), by_region=True)
    else:
        counted = {
            key: _count_groups(_arms(StaffAccount.objects.filter(home__region=key or None)))
            for key in keys
        }
    return {key: counted.get(key, []) for key in keys}


def _count_groups(arms: dict[tuple[str, ...], QuerySet], by_region: bool = False):
    """Every to-do's people counted per log-in date, in one statement (each part Django's
    SQL for one arm). `by_region`: region key -> those of its homes (the regions with
    people)."""
    fields = ("home__region", "todo", "disable_date") if by_region else ("todo", "disable_date")
    sql, params = _union_all(
        queryset.values(*fields)
        .annotate(people=Count("*"))
        .order_by()
        .values_list(*fields, "people")
        for queryset in arms.values()
    )
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        # Its JIT would compile this one-off scan for longer than a quarter of the second
        # it runs at national scale; SET LOCAL lasts this statement's own transaction (in
        # a caller's transaction it would last to that one's end, so it is not sent there).
        sql = f"SET LOCAL jit = off; {sql}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchall()
    if not by_region:
        return _in_order(found)
    regions: dict[int, list] = {}
    for region, *group in found:
        regions.setdefault(region or NO_REGION, []).append(group)
    return {key: _in_order(groups) for key, groups in regions.items()}


def _in_order(groups) -> list[tuple[str, date | None, int]]:
    """(to-do, log-in date, people) as the pages order them: to-do by to-do, dates
    ascending, no date last. SQLite reads dates as text."""
    place = {name: n for n, name in enumerate(TODO_WORDS)}
    return sorted(
        ((name, _as_date(day), n) for name, day, n in groups),
        key=lambda g: (place[g[0]], g[1] is None, g[1] or date.min),
    )


def _as_date(day) -> date | None:
    return date.fromisoformat(day) if isinstance(day, str) else day


def _runs(groups):
    """(to-do, [(date, people), ...]) for each to-do with people, in order."""
    runs: dict[str, list] = {}
    for name, day, n in groups:
        runs.setdefault(name, []).append((day, n))
    return runs.items()


def _part(queryset: QuerySet, dates, start: int, stop: int) -> QuerySet:
    """The ids and places of people start..stop (counted from this to-do's first) of one
    to-do: only the dates that hold them are read and sorted."""
    start, at, first, last = max(start, 0), 0, None, None
    for n, (_, people) in enumerate(dates):
        if first is None and start < at + people:
            first, skipped = n, at
        if at < stop:
            last = n
        at += people
    days = [day for day, _ in dates[first : last + 1]]
    within = Q(disable_date__in=[d for d in days if d is not None])
    if None in days:
        within |= Q(disable_date=None)
    ranked = queryset.filter(within).annotate(place=Window(RowNumber(), order_by=list(_ORDER)))
    return ranked.order_by("place").values_list("pk", "place")[start - skipped : stop - skipped]


def _places(parts: list[QuerySet]) -> dict[int, tuple[int, int]]:
    """Account id -> (part, place within it), the parts read in one statement."""
    with connection.cursor() as cursor:
        cursor.execute(*_union_all(parts, numbered=True))
        return {pk: (part, place) for part, pk, place in cursor.fetchall()}


def _union_all(querysets, numbered: bool = False) -> tuple[str, list]:
    """These querysets' SQL (Django's, each a subquery) as one UNION ALL statement and its
    parameters; `numbered`: each row begins with its queryset's number."""
    sql, params = [], []
    for n, queryset in enumerate(querysets):
        part_sql, part_params = queryset.query.sql_with_params()
        sql.append(f"SELECT {f'{n} AS n, ' if numbered else ''}part.* FROM ({part_sql}) AS part")
        params += part_params
    return " UNION ALL ".join(sql), params


def rows(user, region: Region | None = None, versions=False) -> People:
    """The people on the worklist of this user (within one of their regions), as dicts:
    todo (todos.TODOS), what_to_do, name, email, home, ods_code, state (in words),
    log_in_by, removal_requested_on, waiting_since, days_waiting, as_of. The most pressing
    first: to chase by log-in date, then the leavers, each home by its ODS code. `versions`:
    worklistcounts.versions_for(user, region), when the caller has read them already."""
    if versions is False:
        versions = worklistcounts.versions_for(user, region)
    return People(lambda: _arms(_accounts(user, region, versions)), versions)


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


def mailboxes(user, region: Region | None = None, versions=False) -> Rows:
    """The shared mailboxes of this user's homes that need a call to the helpdesk
    (rules.NEEDS_HELPDESK), orphaned first, as dicts: email, risk (in words), home,
    ods_code, landline, helpdesk_phone, call (what to say), as_of. `versions` as for
    rows()."""
    if versions is False:
        versions = worklistcounts.versions_for(user, region)
    return Rows(partial(_mailboxes, user, region), _mailbox, versions)


def _mailboxes(user, region: Region | None) -> QuerySet:
    return (
        SharedMailbox.objects.filter(home__in=_homes(user, region))
        .filter(risk__in=rules.NEEDS_HELPDESK)
        .annotate(place=_RISK_PLACE)
        .order_by("place", "home__ods_code", "email")
        .values(*MAILBOX_FIELDS)
    )


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
