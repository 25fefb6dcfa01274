"""What the dashboard and home pages show, as queryset work: a fixed number of queries
whatever the number of homes."""

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Count, F, Prefetch, Q

from . import rules
from .exports import stream_csv
from .models import CheckRun, MailboxAliveChange, SharedMailbox, StaffAccount, StateChange
from .rules import AccountState, MailboxRisk

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
RISK_MEANING = {
    MailboxRisk.ORPHANED: "Orphaned: no linked account is left that can open this mailbox",
    MailboxRisk.AT_RISK: "At risk: nobody active can open this mailbox",
    MailboxRisk.SINGLE_USER: "Only one active person can open this mailbox",
    MailboxRisk.HEALTHY: "Healthy: two or more active people can open this mailbox",
}


def last_run() -> CheckRun | None:
    return (
        CheckRun.objects.filter(outcome=CheckRun.Outcome.OK, home__isnull=True)
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
            region=region if region.isdigit() else "",
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
            # Emails are stored in lower case: a prefix search can use the email index.
            by_email = StaffAccount.objects.filter(email__startswith=self.query.lower())
            homes = homes.filter(
                Q(ods_code__icontains=self.query)
                | Q(name__icontains=self.query)
                | Q(pk__in=by_email.values("home"))
            )
        return homes

    def querystring(self) -> str:
        return urlencode(
            {"q": self.query, "risk": self.risk, "region": self.region, "state": self.state}
        )


RANKED_COLUMNS = ["ods_code", "name", "region", "worst_risk", "soonest_forecast"]


def ranked_csv(ranked) -> Iterator[str]:
    rows = (
        {
            "ods_code": home.ods_code,
            "name": home.name,
            "region": home.region.name if home.region else None,
            "worst_risk": home.worst_risk,
            "soonest_forecast": home.soonest_forecast,
        }
        for home in ranked.iterator(chunk_size=2000)
    )
    return stream_csv(RANKED_COLUMNS, rows)


def ranked_homes(homes):
    """Riskiest first: orphaned, then at_risk, single_user, healthy, each by soonest
    forecast (the check keeps each home's rank and forecast up to date)."""
    return homes.order_by("risk_rank", F("soonest_forecast").asc(nulls_last=True), "ods_code")


@dataclass
class HomeSummary:
    """What one home must do, written once: cards, home page, digest and alerts read it.

    A leaver moves from `leavers` (ask NHSmail to remove them) to `waiting` (removal
    requested, waiting for NHSmail) to gone (the report says deleted); a request still not
    done after REMOVAL_CHASE_DAYS comes back as `chase_removal`. A disabled account linked
    to a mailbox nobody active can open is the quickest way back in: `reactivate`."""

    home: object
    mailboxes: list
    counts: dict = field(default_factory=dict)
    to_chase: list = field(default_factory=list)
    leavers: list = field(default_factory=list)
    waiting: list = field(default_factory=list)
    chase_removal: list = field(default_factory=list)
    reactivate: list = field(default_factory=list)

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
    def needs_action(self) -> bool:
        risky = any(m.risk and m.risk != MailboxRisk.HEALTHY for m in self.mailboxes)
        return bool(risky or self.to_chase or self.leavers or self.chase_removal or self.reactivate)


def _attention():
    """The accounts some list of HomeSummary holds."""
    return (
        Q(state__in=[AccountState.AT_RISK, AccountState.INACTIVE], removal_requested_on=None)
        | (Q(state=AccountState.LEFT) & ~Q(reported_status=rules.ReportedStatus.DELETED))
        | Q(state=AccountState.DISABLED, mailboxes__risk__in=rules.NEEDS_HELPDESK)
    )


def _file(summary: HomeSummary, account) -> None:
    if account.state == AccountState.DISABLED:
        summary.reactivate.append(account)
    elif account.state != AccountState.LEFT:
        summary.to_chase.append(account)
    elif account.removal_requested_on is None:
        summary.leavers.append(account)
    elif account.removal_overdue:
        summary.chase_removal.append(account)
    else:
        summary.waiting.append(account)


def summaries(homes) -> list[HomeSummary]:
    """Everything the manager's cards need, in four queries for any number of homes."""
    homes = list(
        homes.prefetch_related(
            Prefetch("mailboxes", queryset=SharedMailbox.objects.order_by("email"))
        )
    )
    by_id = {h.pk: HomeSummary(home=h, mailboxes=list(h.mailboxes.all())) for h in homes}
    counts = defaultdict(dict)
    for home_id, state, n in (
        StaffAccount.objects.filter(home__in=by_id)
        .values_list("home_id", "state")
        .annotate(n=Count("id"))
        .order_by()
    ):
        counts[home_id][state] = n
    attention = (
        StaffAccount.objects.filter(home__in=by_id)
        .filter(_attention())
        .select_related("removal_requested_by")
        .distinct()
        .order_by("disable_date", "email")
    )
    for account in attention:
        summary = by_id[account.home_id]
        account.home = summary.home
        _file(summary, account)
    for home_id, summary in by_id.items():
        summary.counts = {s.value: counts[home_id].get(s.value, 0) for s in AccountState}
    return sorted(by_id.values(), key=lambda s: (s.home.risk_rank, s.home.ods_code))


def home_accounts(home):
    """A home's accounts, each with its figures as of the date its state was judged."""
    accounts = list(
        StaffAccount.objects.filter(home=home)
        .select_related("removal_requested_by")
        .prefetch_related(Prefetch("mailboxes", queryset=SharedMailbox.objects.order_by("email")))
        .order_by("email")
    )
    for account in accounts:
        account.home = home
        account.days = account.days_inactive
        account.days_left = (
            (account.disable_date - home.checked_as_of).days
            if account.disable_date and home.checked_as_of
            else None
        )
    return accounts


def risk_totals(homes, every_home: bool = False) -> dict:
    """Mailboxes by risk across these homes, every risk present. For someone who sees every
    home the count needs no join (an index-only scan)."""
    mailboxes = SharedMailbox.objects.all()
    if not every_home:
        mailboxes = mailboxes.filter(home__in=homes)
    found = dict(mailboxes.values_list("risk").annotate(n=Count("id")).order_by())
    return {risk: found.get(risk.value, 0) for risk in MailboxRisk}


# The home page's staff table: sort key -> (label, how to sort); the first is the default.
SORTS = {
    "disable": ("disable date", lambda a: (a.disable_date or date.max, a.email)),
    "name": ("name", lambda a: (a.display_name or a.email).lower()),
    "email": ("email", lambda a: a.email),
    "state": ("state", lambda a: (a.state or "", a.email)),
    "days": ("days inactive", lambda a: (-(a.days or 0), a.email)),
}


def home_history(accounts, mailboxes, limit: int = 50):
    """The recorded changes of these accounts and mailboxes (a home's), newest first. Taking
    their ids lets the database use its two indexes instead of scanning every change."""
    return (
        StateChange.objects.filter(
            Q(account_id__in=[a.pk for a in accounts]) | Q(mailbox_id__in=[m.pk for m in mailboxes])
        )
        .select_related("run", "account", "mailbox")
        .order_by("-run_id", "id")[:limit]
    )


@dataclass
class Chart:
    mailbox: object
    points: str
    values: list[int]
    first_date: date | None
    last_date: date | None
    top: int
    width: int = 600
    height: int = 120

    @property
    def summary(self) -> str:
        if not self.values:
            return "No check has recorded this mailbox yet."
        if len(self.values) == 1:
            return (
                f"At the last check ({self.last_date:%d %B %Y}), {self.values[0]} linked "
                f"accounts kept {self.mailbox.email} open."
            )
        return (
            f"Over the last {len(self.values)} checks ({self.first_date:%d %B %Y} to "
            f"{self.last_date:%d %B %Y}), between {min(self.values)} and {max(self.values)} "
            f"linked accounts kept {self.mailbox.email} open; now {self.values[-1]}."
        )


def alive_charts(home, mailboxes, runs: int = 90) -> list[Chart]:
    """Alive accounts per mailbox over the last checks, as SVG polyline points."""
    recent = list(
        CheckRun.objects.filter(outcome=CheckRun.Outcome.OK)
        .filter(Q(home__isnull=True) | Q(home=home))
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
        # One check draws a level line across the chart rather than a single invisible point.
        series = values * 2 if len(values) == 1 else values
        step = chart.width / max(len(series) - 1, 1)
        chart.points = " ".join(
            f"{i * step:.1f},{chart.height - v * (chart.height - 10) / top:.1f}"
            for i, v in enumerate(series)
        )
        charts.append(chart)
    return charts
