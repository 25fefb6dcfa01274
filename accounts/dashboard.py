"""What the dashboard and home pages show, as queryset work: a fixed number of queries
whatever the number of homes."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from django.db.models import Case, CharField, Count, IntegerField, Min, Prefetch, Q, Value, When

from . import rules
from .models import CheckRun, SharedMailbox, StaffAccount
from .rules import AccountState, MailboxRisk

RISK_RANK = {risk.value: rank for rank, risk in enumerate(rules.RISK_ORDER)}
UNCHECKED_RANK = len(RISK_RANK)

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
    return CheckRun.objects.filter(outcome=CheckRun.Outcome.OK).order_by("-finished_at").first()


def ranked_homes(homes):
    """Homes annotated with their worst mailbox risk and soonest forecast, riskiest first:
    orphaned, then at_risk by soonest forecast, then single_user, then healthy."""
    rank = Case(
        *[When(mailboxes__risk=risk, then=n) for risk, n in RISK_RANK.items()],
        default=UNCHECKED_RANK,
        output_field=IntegerField(),
    )
    return homes.annotate(
        risk_rank=Min(rank),
        worst_risk=Case(
            *[When(risk_rank=n, then=Value(risk)) for risk, n in RISK_RANK.items()],
            default=None,
            output_field=CharField(),
        ),
        soonest_forecast=Min("mailboxes__forecast_date"),
        mailbox_count=Count("mailboxes", distinct=True),
    ).order_by("risk_rank", "soonest_forecast", "ods_code")


@dataclass
class HomeSummary:
    home: object
    mailboxes: list
    counts: dict = field(default_factory=dict)
    to_chase: list = field(default_factory=list)
    leavers: list = field(default_factory=list)

    @property
    def worst_risk(self):
        risks = [m.risk for m in self.mailboxes if m.risk]
        return min(risks, key=RISK_RANK.get) if risks else None

    @property
    def needs_helpdesk(self) -> bool:
        return self.worst_risk in (MailboxRisk.ORPHANED, MailboxRisk.AT_RISK)


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
        .filter(
            Q(state__in=[AccountState.AT_RISK, AccountState.INACTIVE])
            | Q(state=AccountState.LEFT, links__isnull=False)
        )
        .distinct()
        .order_by("disable_date", "email")
    )
    for account in attention:
        summary = by_id[account.home_id]
        (summary.leavers if account.state == AccountState.LEFT else summary.to_chase).append(
            account
        )
    for home_id, summary in by_id.items():
        summary.counts = {s.value: counts[home_id].get(s.value, 0) for s in AccountState}
    return sorted(
        by_id.values(), key=lambda s: (RISK_RANK.get(s.worst_risk, UNCHECKED_RANK), s.home.ods_code)
    )


def home_accounts(home, as_of: date):
    accounts = list(
        StaffAccount.objects.filter(home=home)
        .prefetch_related(Prefetch("mailboxes", queryset=SharedMailbox.objects.order_by("email")))
        .order_by("email")
    )
    for account in accounts:
        account.days = rules.days_inactive(account.activity_on, as_of)
        account.days_left = (account.disable_date - as_of).days if account.disable_date else None
    return accounts


def risk_totals(homes) -> dict:
    """Mailboxes by risk across these homes, every risk present."""
    found = dict(
        SharedMailbox.objects.filter(home__in=homes)
        .values_list("risk")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {risk: found.get(risk.value, 0) for risk in MailboxRisk}
