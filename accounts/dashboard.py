"""What the dashboard and home pages show, as queryset work: a fixed number of queries
whatever the number of homes."""

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from urllib.parse import urlencode

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import (
    Case,
    Count,
    F,
    Prefetch,
    Q,
    Value,
    When,
    Window,
    prefetch_related_objects,
)
from django.db.models.functions import Coalesce, Lower, NullIf, RowNumber
from django.utils.html import format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import ngettext

from . import prepared, rules, todos, worklistcounts
from .models import (
    CareHome,
    CheckRun,
    MailboxAliveChange,
    MailboxLink,
    Region,
    SharedMailbox,
    StaffAccount,
    StateChange,
    User,
)
from .rules import AccountState, MailboxRisk
from .todos import TODOS
from .worklistcounts import NO_REGION

RISK_TAG = {
    MailboxRisk.ORPHANED: "nhsuk-tag--red",
    MailboxRisk.AT_RISK: "nhsuk-tag--orange",
    MailboxRisk.SINGLE_USER: "nhsuk-tag--yellow",
    MailboxRisk.HEALTHY: "nhsuk-tag--green",
}
STATE_TAG = {
    AccountState.ACTIVE: "nhsuk-tag--green",
    AccountState.AT_RISK: "nhsuk-tag--yellow",
    AccountState.INACTIVE: "nhsuk-tag--orange",
    AccountState.DISABLED: "nhsuk-tag--red",
    AccountState.DELETED: "nhsuk-tag--grey",
    AccountState.LEFT: "nhsuk-tag--grey",
}
RISK_MEANING = rules.RISK_MEANING
STATE_MEANING = rules.STATE_MEANING


def last_run() -> CheckRun | None:
    return (
        CheckRun.objects.national()
        .filter(outcome=CheckRun.Outcome.OK)
        .order_by("-finished_at")
        .first()
    )


@dataclass(frozen=True)
class HomeFilter:
    """The admin dashboard's filters, read from the query string; unknown values are ignored."""

    risk: str = ""
    region: str = ""
    state: str = ""
    query: str = ""

    @classmethod
    def from_query(cls, params) -> "HomeFilter":
        risk, region, state = (params.get(k, "") for k in ("risk", "region", "state"))
        return cls(
            risk=risk if risk in MailboxRisk.values else "",
            region=region if region.isascii() and region.isdigit() else "",
            state=state if state in AccountState.values else "",
            query=params.get("q", "").strip()[:100],
        )

    def apply(self, homes):
        if self.risk:
            homes = homes.filter(pk__in=SharedMailbox.objects.filter(risk=self.risk).values("home"))
        if self.region:
            homes = homes.filter(region_id=int(self.region))
        if self.state:
            homes = homes.filter(
                pk__in=StaffAccount.objects.filter(state=self.state).values("home")
            )
        if self.query:
            # Each branch a subquery of its own, so each can use its index: the trigram
            # indexes on ODS code and name (migration 0023, PostgreSQL), and the email
            # pattern index (emails are stored in lower case: a prefix search).
            by_email = StaffAccount.objects.filter(email__startswith=self.query.lower())
            by_code = CareHome.objects.filter(ods_code__icontains=self.query)
            by_name = CareHome.objects.filter(name__icontains=self.query)
            homes = homes.filter(
                Q(pk__in=by_code.values("pk"))
                | Q(pk__in=by_name.values("pk"))
                | Q(pk__in=by_email.values("home"))
            )
        return homes

    def querystring(self) -> str:
        return urlencode(
            {"q": self.query, "risk": self.risk, "region": self.region, "state": self.state}
        )


def region_choices(user):
    """The regions an admin may filter by: their own, or every region for those who see
    every home (other regions' names are not theirs to see)."""
    return Region.objects.all() if user.sees_every_home else user.regions.all()


def region_options(user, selected: str) -> SafeString:
    """The options of a region filter (region_choices), the one whose pk is `selected`
    chosen: forty-two regions through a template loop cost a third of a page's CPU."""
    regions = region_choices(user).values_list("pk", "name")
    return format_html_join(
        "",
        '<option value="{}"{}>{}</option>',
        ((pk, " selected" if str(pk) == selected else "", name) for pk, name in regions),
    )


def ranked_homes(homes):
    """Riskiest first: orphaned, then at_risk, single_user, healthy, each by soonest
    forecast (the check keeps each home's rank and forecast up to date)."""
    return homes.order_by("risk_rank", F("soonest_forecast").asc(nulls_last=True), "ods_code")


# People named per to-do on a card, the home page and the digest ("and N more" after):
# a home with thousands of flagged accounts costs the same as one with ten.
TODO_SHOWN = 10


@dataclass
class HomeSummary:
    """What one home must do, written once: cards, home page, digest and alerts read it.

    A leaver moves from `leavers` (ask NHSmail to remove them) to `waiting` (removal
    requested, waiting for NHSmail) to gone (the report says deleted); a request still not
    done after REMOVAL_CHASE_DAYS comes back as `chase_removal`. A disabled account linked
    to a mailbox nobody active can open is the quickest way back in: `reactivate`.
    Each list holds the first TODO_SHOWN people; `totals` says how many there are."""

    home: object
    mailboxes: list
    counts: dict = field(default_factory=dict)
    totals: dict = field(default_factory=lambda: dict.fromkeys(TODOS, 0))
    to_chase: list = field(default_factory=list)
    leavers: list = field(default_factory=list)
    waiting: list = field(default_factory=list)
    chase_removal: list = field(default_factory=list)
    reactivate: list = field(default_factory=list)
    accounts: int = 0  # every account of the home, checked or not

    @property
    def worst_risk(self):
        return self.home.worst_risk

    @property
    def as_of(self) -> date | None:
        return self.home.checked_as_of

    @property
    def chase_days(self) -> int:
        return settings.REMOVAL_CHASE_DAYS

    @property
    def needs_helpdesk(self) -> bool:
        return self.worst_risk in rules.NEEDS_HELPDESK

    @property
    def more(self) -> dict:
        """How many people each to-do has beyond those named."""
        return {todo: self.totals[todo] - len(getattr(self, todo)) for todo in TODOS}

    @property
    def needs_action(self) -> bool:
        risky = any(m.risk and m.risk != MailboxRisk.HEALTHY for m in self.mailboxes)
        return risky or any(self.totals[t] for t in TODOS if t != "waiting")


def summaries(homes) -> list[HomeSummary]:
    """Everything the manager's cards need, in four queries for any number of homes (a
    queryset or a list of homes already read) and whatever their size."""
    homes = list(homes)
    prefetch_related_objects(
        homes, Prefetch("mailboxes", queryset=SharedMailbox.objects.order_by("email"))
    )
    by_id = {h.pk: HomeSummary(home=h, mailboxes=list(h.mailboxes.all())) for h in homes}
    if not by_id:
        return []
    counts = defaultdict(dict)
    for home_id, state, n in (
        StaffAccount.objects.filter(home__in=by_id)
        .values_list("home_id", "state")
        .annotate(n=Count("id"))
        .order_by()
    ):
        counts[home_id][state] = n
    people = prepared.run(_first_todos, list(by_id), *todos.depends_on())
    for (
        pk,
        home_id,
        email,
        name,
        state,
        disable,
        asked,
        by_id_,
        by_name,
        by_email,
        todo,
        n,
    ) in people:
        summary = by_id[home_id]
        account = StaffAccount(
            id=pk, home=summary.home, email=email, display_name=name, state=state,
            disable_date=disable, removal_requested_on=asked,
        )  # fmt: skip
        if by_id_ is not None:
            account.removal_requested_by = User(id=by_id_, full_name=by_name, email=by_email)
        getattr(summary, todo).append(account)
        summary.totals[todo] = n
    for home_id, summary in by_id.items():
        summary.counts = {s.value: counts[home_id].get(s.value, 0) for s in AccountState}
        summary.accounts = sum(counts[home_id].values())
    return sorted(by_id.values(), key=lambda s: (s.home.risk_rank, s.home.ods_code))


def _first_todos(home_ids, today=None, *_depends_on):
    """The first TODO_SHOWN people of each to-do of each home, with each to-do's total
    (prepared: compiled once for each number of homes and each todos.depends_on(), whose
    date is the one compiled in, so the two cannot disagree across midnight)."""
    by_todo = [F("home_id"), F("todo")]
    return (
        StaffAccount.objects.filter(home__in=home_ids)
        .filter(todos.attention())
        .annotate(todo=todos.todo(today))
        .annotate(
            place=Window(
                RowNumber(),
                partition_by=by_todo,
                order_by=[F("disable_date").asc(nulls_last=True), F("email").asc()],
            ),
            total=Window(Count("id"), partition_by=by_todo),
        )
        .filter(place__lte=TODO_SHOWN)
        .order_by(F("disable_date").asc(nulls_last=True), "email")
        .values_list(
            "id",
            "home_id",
            "email",
            "display_name",
            "state",
            "disable_date",
            "removal_requested_on",
            "removal_requested_by_id",
            "removal_requested_by__full_name",
            "removal_requested_by__email",
            "todo",
            "total",
        )  # fmt: skip
    )


# Staff listed per page on the home page: a page costs the same whatever a home's size.
HOME_PAGE_ACCOUNTS = 50
# Linked people named per shared mailbox on the home page ("and N more" after).
LINKED_SHOWN = 10


def home_accounts(home, sort: str, page_number, total: int | None = None) -> Page:
    """One page of a home's accounts in the order of SORTS[sort], each with its figures as
    of the date its state was judged and its shared mailboxes (`mailbox_list`, by email).
    total: how many accounts the home has, when already counted (HomeSummary.accounts), so
    the page need not count them again."""
    accounts = (
        StaffAccount.objects.filter(home=home)
        .select_related("removal_requested_by")
        .order_by(*SORTS[sort][1], "id")
    )
    paginator = Paginator(accounts, HOME_PAGE_ACCOUNTS)
    if total is not None:
        paginator.count = total  # a cached property: set, it is not counted again
    page = paginator.get_page(page_number)
    page.object_list = list(page.object_list)
    by_id = {account.pk: account for account in page.object_list}
    for account in page.object_list:
        account.home = home
        account.mailbox_list = []
        account.days = account.days_inactive
        account.days_left = (
            (account.disable_date - home.checked_as_of).days
            if account.disable_date and home.checked_as_of
            else None
        )
    links = MailboxLink.objects.filter(account_id__in=by_id).order_by("mailbox__email")
    for account_id, mailbox_id, email in links.values_list(
        "account_id", "mailbox_id", "mailbox__email"
    ):
        by_id[account_id].mailbox_list.append(SharedMailbox(id=mailbox_id, email=email))
    return page


def name_linked(mailboxes, limit: int = LINKED_SHOWN) -> None:
    """Each mailbox's first linked people (`linked`) and how many more (`linked_more`), in
    one query (for up to 400 mailboxes). The first people of each mailbox are read from the
    (mailbox, account) index with a LIMIT each, so a mailbox with thousands of links costs
    no more."""
    by_id = {m.pk: m for m in mailboxes}
    for mailbox in mailboxes:
        mailbox.linked, mailbox.linked_more = [], 0
    if not by_id:
        return
    ids = list(by_id)
    for start in range(0, len(ids), _MAILBOXES_PER_QUERY):
        chunk = ids[start : start + _MAILBOXES_PER_QUERY]
        for mailbox_id, account_id, email, display_name, state, n in _linked(chunk, limit):
            mailbox = by_id[mailbox_id]
            if account_id is None:
                mailbox.linked_more = n
            else:
                mailbox.linked.append(
                    StaffAccount(id=account_id, email=email, display_name=display_name, state=state)
                )
    for mailbox in mailboxes:
        mailbox.linked.sort(key=lambda a: (a.display_name or a.email).lower())
        mailbox.linked_more -= len(mailbox.linked)


# SQLite takes at most 500 terms in one compound SELECT: one per mailbox, one for totals.
_MAILBOXES_PER_QUERY = 400


def _linked(mailbox_ids, limit: int) -> list[tuple]:
    """(mailbox, account, email, name, state, 0) for each mailbox's first `limit` links,
    and (mailbox, None, None, None, None, links) for each mailbox's total."""
    # The LIMIT inside, before the join: joined first, a large home's links were merged
    # with a scan of every account up to theirs.
    first = (
        "SELECT * FROM (SELECT l.mailbox_id, a.id, a.email, a.display_name, a.state, 0"
        " FROM (SELECT mailbox_id, account_id FROM accounts_mailboxlink WHERE mailbox_id = %s"
        " ORDER BY account_id LIMIT %s) l JOIN accounts_staffaccount a ON a.id = l.account_id"
        ") first_links"
    )
    totals = (
        "SELECT mailbox_id, NULL, NULL, NULL, NULL, COUNT(*) FROM accounts_mailboxlink"
        f" WHERE mailbox_id IN ({', '.join(['%s'] * len(mailbox_ids))}) GROUP BY mailbox_id"
    )
    params = [value for pk in mailbox_ids for value in (pk, limit)] + list(mailbox_ids)
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join([first] * len(mailbox_ids) + [totals]), params)
        return cursor.fetchall()


def risk_totals(versions: tuple | None, homes) -> dict:
    """Mailboxes by risk across a user's homes (scoping.homes_for), every risk present;
    versions: worklistcounts.versions_for() the user.
    An admin's homes are whole regions (or every home): each region's are counted once and
    kept like the worklist's counts (worklistcounts.py) until a write gives the region a
    new version, as counting 53,000 mailboxes on every dashboard page cost more than the
    rest of its queries."""
    if versions is None:  # a manager's homes are not whole regions: counted each time
        mailboxes = SharedMailbox.objects.filter(home__in=homes)
        found = dict(mailboxes.values_list("risk").annotate(n=Count("*")).order_by())
    else:  # kept whole, each region's part kept too: a write counts its regions again
        found = worklistcounts.kept(versions, "risks", partial(_summed_risks, versions))
    return {risk: found.get(risk.value, 0) for risk in MailboxRisk}


def _summed_risks(versions: tuple) -> Counter:
    found = Counter()
    for counted in worklistcounts.kept_each(versions[1], "risks", _risks).values():
        found.update(counted)
    return found


def _risks(keys: list[int]) -> dict[int, dict]:
    """Region key -> {risk: mailboxes} of its homes, in one statement for these regions."""
    mailboxes = SharedMailbox.objects.all()
    if NO_REGION not in keys:
        mailboxes = mailboxes.filter(home__region__in=keys)
    found: dict[int, dict] = {key: {} for key in keys}
    rows = mailboxes.values_list("home__region", "risk").annotate(n=Count("*")).order_by()
    for region, risk, n in rows:
        if (region or NO_REGION) in found:
            found[region or NO_REGION][risk] = n
    return found


# The home page's staff table: sort key -> (label, how to sort); the first is the default.
# rules.activity_date as a database expression (checks.ACTIVITY is the same in raw SQL).
_REPORTED = Coalesce("last_activity_date", "first_recorded")
_ACTIVITY_ON = Case(When(attested_on__gt=_REPORTED, then=F("attested_on")), default=_REPORTED)

# The home page's staff table: sort key -> (label, database order); the first is the default.
SORTS = {
    "disable": ("disable date", (F("disable_date").asc(nulls_last=True), "email")),
    "name": ("name", (Lower(Coalesce(NullIf("display_name", Value("")), "email")), "email")),
    "email": ("email", ("email",)),
    "state": ("state", (F("state").asc(nulls_first=True), "email")),
    # Most days inactive first: the oldest activity; accounts not yet checked last.
    "days": (
        "days inactive",
        (
            Case(When(state__isnull=True, then=Value(1)), default=Value(0)),
            _ACTIVITY_ON.asc(nulls_last=True),
            "email",
        ),
    ),
}


def home_history(home, mailboxes, limit: int = 50) -> list:
    """The recorded changes of a home's accounts and mailboxes, newest first: the newest of
    each, merged. The accounts are named by a subquery (a home may hold thousands) and the
    mailboxes by their ids, so each query can use its index and stop at the limit."""
    changes = StateChange.objects.all()
    if connection.vendor == "postgresql":
        # As an array, so the planner probes the account index whatever the home's size:
        # as "IN (subquery)" it hashed a large home's accounts and scanned every change
        # ever recorded (a home of 5,000 accounts: 28 ms instead of 100 ms at 200,000).
        by_accounts = changes.extra(
            where=[
                "accounts_statechange.account_id = ANY(ARRAY("
                "SELECT id FROM accounts_staffaccount WHERE home_id = %s))"
            ],
            params=[home.pk],
        )
    else:
        by_accounts = changes.filter(
            account_id__in=StaffAccount.objects.filter(home=home).values("id")
        )
    by_mailboxes = changes.filter(mailbox_id__in=[m.pk for m in mailboxes])
    # The newest ids of each first, then those changes with their runs, accounts and
    # mailboxes: joined before the limit, a large home joined every change it ever had.
    newest = [
        pk
        for found in (by_accounts, by_mailboxes)
        for pk in found.order_by("-run_id", "id").values_list("pk", flat=True)[:limit]
    ]
    rows = StateChange.objects.filter(pk__in=newest).values_list(
        "run_id", "id", "as_of", "account_id", "account__display_name", "account__email",
        "mailbox__email", "from_value", "to_value",
    )  # fmt: skip
    found = []
    for run_id, pk, as_of, account_id, name, email, mailbox, before, after in sorted(
        rows, key=lambda row: (-row[0], row[1])
    )[:limit]:
        email = email if account_id else mailbox
        words = change_words(account_id is not None, before, after)
        line = f"{short_date(as_of)}: {name or email} {words}."
        found.append(Change(run_id, pk, account_id, email, line))
    return found


@dataclass(slots=True)
class Change:
    """One line of a home's history: a recorded change (StateChange) in words."""

    run_id: int
    id: int
    account_id: int | None  # None for a mailbox's change
    email: str  # the account's or the mailbox's
    line: str

    def __getitem__(self, name: str):
        return getattr(self, name)  # Django's templates try change[name] first


def change_words(of_account: bool, from_value: str, to_value: str) -> str:
    """A recorded change as the end of a sentence: an account's values are states, a
    mailbox's are risks, and both use the code "at_risk"."""
    label = rules.state_label if of_account else rules.risk_label
    if from_value:
        return f"changed from {label(from_value).lower()} to {label(to_value).lower()}"
    return f"was checked for the first time: {label(to_value).lower()}"


# Fewer checks than this make no trend: the home page says it in a sentence instead.
CHART_MIN_CHECKS = 7


def long_date(day: date) -> str:
    """As the templates' `date:"j F Y"`: 3 March 2026."""
    return f"{day:%-d %B %Y}"


def short_date(day: date) -> str:
    """As the templates' `date:"j M Y"`: 3 Mar 2026."""
    return f"{day.day} {day:%b %Y}"


@dataclass
class Chart:
    """People who can open a mailbox over the last checks, drawn as an SVG line with
    labelled axes; `summary` is its text alternative."""

    mailbox: object
    points: str
    values: list[int]
    first_date: date | None
    last_date: date | None
    top: int
    width: int = 600
    height: int = 180
    # The plot area inside the SVG: room on the left for the counts, below for the dates.
    left: int = 40
    right: int = 590
    plot_top: int = 12
    bottom: int = 150

    def y(self, value: float) -> float:
        return self.bottom - value * (self.bottom - self.plot_top) / self.top

    @property
    def drawn(self) -> bool:
        return len(self.values) >= CHART_MIN_CHECKS

    @property
    def at_risk_y(self) -> str:
        """Where one person is: below it nobody active can open the mailbox."""
        return f"{self.y(1):.1f}"

    @property
    def top_y(self) -> str:
        return f"{self.y(self.top):.1f}"

    @property
    def summary(self) -> str:
        email = self.mailbox.email
        if not self.values:
            return "No check has recorded this mailbox yet."
        now = self.values[-1]
        people = ngettext("%(n)d person", "%(n)d people", now) % {"n": now}
        if len(self.values) == 1 or self.first_date == self.last_date:
            return f"At the check on {long_date(self.last_date)}, {people} could open {email}."
        checks = len(self.values)
        low, high = min(self.values), max(self.values)
        if low == high:
            return (
                f"At each of the last {checks} checks, from {long_date(self.first_date)} to "
                f"{long_date(self.last_date)}, {people} could open {email}."
            )
        return (
            f"Over the last {checks} checks, from {long_date(self.first_date)} to "
            f"{long_date(self.last_date)}, between {low} and {high} people could open {email}; "
            f"at the latest check, {people}."
        )


def alive_charts(home, mailboxes, runs: int = 90) -> list[Chart]:
    """People who can open each mailbox over the last checks, as SVG polyline points."""
    recent = list(
        CheckRun.objects.filter(outcome=CheckRun.Outcome.OK)
        .filter(Q(home__isnull=True, scope_homes__isnull=True) | Q(home=home))
        .order_by("-id")
        .values_list("id", "as_of")[:runs]
    )[::-1]
    changes = defaultdict(list)
    if recent:
        for mailbox_id, run_id, alive in (
            MailboxAliveChange.objects.filter(mailbox__home=home, run_id__lte=recent[-1][0])
            .order_by("run_id")
            .values_list("mailbox_id", "run_id", "alive")
        ):
            changes[mailbox_id].append((run_id, alive))
    charts = []
    for mailbox in mailboxes:
        values, history, current = [], changes[mailbox.pk], 0
        for run_id, _ in recent:
            while history and history[0][0] <= run_id:
                current = history.pop(0)[1]
            values.append(current)
        top = max([*values, 2])
        chart = Chart(mailbox, "", values, recent[0][1] if recent else None,
                      recent[-1][1] if recent else None, top)  # fmt: skip
        step = (chart.right - chart.left) / max(len(values) - 1, 1)
        chart.points = " ".join(
            f"{chart.left + i * step:.1f},{chart.y(v):.1f}" for i, v in enumerate(values)
        )
        charts.append(chart)
    return charts
