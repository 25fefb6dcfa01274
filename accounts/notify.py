"""Reminders and alerts, so nobody loses an account because nobody told them.

Planning writes one Notification row per (recipient, kind, what it is about) and ignores
rows that already exist, so a re-run plans nothing twice. Delivery sends what is pending or
failed; a failed send is kept and retried by the next run, and never stops the others.
"""

import logging
import time
import zlib
from collections import Counter
from datetime import date, timedelta

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from . import dashboard
from .exports import FORMULA_START
from .models import CareHome, CheckRun, Notification, StaffAccount, StateChange, User
from .rules import KEEPS_MAILBOX_ALIVE, NEEDS_HELPDESK

log = logging.getLogger(__name__)
Kind = Notification.Kind
CHECK_IN_SALT = "accounts.check-in"
TOKEN_CLOCK_SKEW = 300  # seconds a link may seem to come from the future (servers' clocks)


def absolute(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


# Planning ------------------------------------------------------------------------------


def plan_reminders(as_of: date) -> int:
    """Staff whose disable date is one of the reminder days away, and who still keep a
    mailbox alive (active or at risk), have not opted out and are not being removed."""
    days_for = {as_of + timedelta(days=d): d for d in settings.REMINDER_DAYS}
    accounts = StaffAccount.objects.filter(
        state__in=KEEPS_MAILBOX_ALIVE,
        reminders_opt_out=False,
        removal_requested_on=None,
        disable_date__in=days_for,
    ).only("id", "email", "disable_date")
    rows = [
        Notification(
            kind=Kind.REMINDER,
            recipient=a.email,
            account=a,
            about=f"{a.disable_date.isoformat()}/{days_for[a.disable_date]}d",
            subject=f"Log in to NHSmail by {a.disable_date:%-d %B %Y} to keep your account",
            context={"days": days_for[a.disable_date]},
        )
        for a in accounts.iterator(chunk_size=2000)
    ]
    return _create(rows)


def plan_alerts(run: CheckRun) -> int:
    """One email per admin naming the homes whose shared mailbox became at risk or
    orphaned since the last national run, by this run or by any recheck of some homes in
    between (after an import or a manager's action), and still is."""
    previous = (
        CheckRun.objects.national()
        .filter(outcome=CheckRun.Outcome.OK, pk__lt=run.pk)
        .order_by("-pk")
        .values_list("pk", flat=True)
        .first()
    )
    changed = StateChange.objects.filter(
        run_id__gt=previous or 0,
        run_id__lte=run.pk,
        mailbox__isnull=False,
        to_value__in=NEEDS_HELPDESK,
        mailbox__risk__in=NEEDS_HELPDESK,
    )
    home_ids = set(changed.values_list("mailbox__home_id", flat=True))
    if not home_ids:
        return 0
    rows = []
    for admin in User.objects.filter(Q(role=User.Role.ADMIN) | Q(is_superuser=True)).filter(
        is_active=True, digest_opt_out=False
    ):
        homes = CareHome.objects.for_user(admin).filter(pk__in=home_ids)
        codes = sorted(homes.values_list("ods_code", flat=True))
        if codes:
            rows.append(
                Notification(
                    kind=Kind.ALERT,
                    recipient=admin.email,
                    user=admin,
                    about=f"run {run.pk}",
                    subject=f"{len(codes)} care home{'s' if len(codes) > 1 else ''} may lose "
                    "their shared mailbox",
                    context={"run": run.pk, "ods_codes": codes},
                )
            )
    return _create(rows)


def plan_digests(as_of: date) -> int:
    """One weekly email per manager whose homes need something done; none otherwise."""
    year, week, _ = as_of.isocalendar()
    rows = []
    managers = User.objects.filter(role=User.Role.MANAGER, is_active=True, digest_opt_out=False)
    for manager in managers.prefetch_related("homes"):
        todo = [s for s in dashboard.summaries(manager.homes.all()) if s.needs_action]
        if todo:
            rows.append(
                Notification(
                    kind=Kind.DIGEST,
                    recipient=manager.email,
                    user=manager,
                    about=f"{year}-W{week:02d}",
                    subject="NHSmail this week: what your care homes need to do",
                    context={"as_of": as_of.isoformat()},
                )
            )
    return _create(rows)


def _create(rows: list[Notification]) -> int:
    before = Notification.objects.count()
    Notification.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    return Notification.objects.count() - before


# Rendering -----------------------------------------------------------------------------


def check_in_token(notification: Notification) -> str:
    return signing.dumps({"n": notification.pk}, salt=CHECK_IN_SALT, compress=True)


def read_check_in_token(token: str) -> Notification:
    """The reminder a check-in link belongs to; raises signing.BadSignature (or its
    SignatureExpired) for a bad or old link, and Notification.DoesNotExist if it is gone.
    A signature proves only who made the link: its date and payload are checked too."""
    max_age = timedelta(days=settings.CHECK_IN_LINK_DAYS)
    try:
        data = signing.loads(token, salt=CHECK_IN_SALT, max_age=max_age)
        signed_at = signing.b62_decode(token.rsplit(":", 2)[1])
    except (ValueError, zlib.error) as exc:  # a signed payload that is not ours: bad link
        raise signing.BadSignature("the link's payload cannot be read") from exc
    if signed_at > time.time() + TOKEN_CLOCK_SKEW:
        raise signing.BadSignature("the link is dated in the future")
    pk = data.get("n") if isinstance(data, dict) else None
    if type(pk) is not int or not 0 < pk < 2**63:
        raise signing.BadSignature("the link does not name a reminder")
    return Notification.objects.select_related("account__home").get(pk=pk, kind=Kind.REMINDER)


def render(notification: Notification) -> tuple[str, str]:
    """(text, html) bodies."""
    context = {"n": notification, "site_url": settings.SITE_URL, **notification.context}
    if notification.kind == Kind.REMINDER:
        account = notification.account
        context.update(
            account=account,
            home=account.home,
            check_in_url=absolute(reverse("check_in", args=[check_in_token(notification)])),
            guidance_url=absolute(reverse("guidance:page", args=["keep-your-account-active"])),
        )
    elif notification.kind == Kind.DIGEST:
        context.update(
            summaries=[
                s for s in dashboard.summaries(notification.user.homes.all()) if s.needs_action
            ],
            dashboard_url=absolute(reverse("dashboard")),
        )
    else:
        homes = CareHome.objects.filter(ods_code__in=notification.context["ods_codes"])
        context.update(
            summaries=dashboard.summaries(homes), dashboard_url=absolute(reverse("dashboard"))
        )
    context["preferences_url"] = absolute(reverse("email_preferences"))
    name = f"emails/{notification.kind}"
    return render_to_string(f"{name}.txt", context), render_to_string(f"{name}.html", context)


# Delivery ------------------------------------------------------------------------------


# A claim older than this belongs to a delivery that died: the row is due again.
CLAIM_TIMEOUT = timedelta(hours=1)


def _claim(notification: Notification) -> bool:
    """Compare-and-swap: only the delivery that moves the row from the state it read to
    "sending" may send it."""
    claimed = Notification.objects.filter(
        pk=notification.pk, status=notification.status, attempts=notification.attempts
    ).update(
        status=Notification.Status.SENDING,
        attempts=F("attempts") + 1,
        claimed_at=timezone.now(),
    )
    notification.attempts += 1
    return claimed == 1


def unsendable(address: str) -> str:
    """Why an address must not be mailed, or "" if it may. Django's validate_email accepts
    every RFC atext character, so an address a spreadsheet would run (a report once held
    =cmd|'/c.calc'!a0@evil.co) is refused as well."""
    try:
        validate_email(address)
    except ValidationError:
        return f"not sent: {address[:100]!r} is not a valid email address"
    if address.startswith(FORMULA_START):
        return f"not sent: {address[:100]!r} starts with {address[0]!r}, as a formula does"
    return ""


def deliver() -> Counter:
    """Send everything pending or failed (up to the attempt limit), each row claimed first
    so that overlapping deliveries never send it twice; count the outcomes."""
    outcome = Counter()
    Status = Notification.Status
    due = Notification.objects.filter(
        Q(status=Status.PENDING)
        | Q(status=Status.FAILED, attempts__lt=settings.NOTIFICATION_MAX_ATTEMPTS)
        | Q(status=Status.SENDING, claimed_at__lt=timezone.now() - CLAIM_TIMEOUT)
    ).select_related("account__home", "user")
    connection = get_connection()
    for notification in due.iterator(chunk_size=200):
        if not _claim(notification):
            continue
        if refused := unsendable(notification.recipient):
            log.warning("not sending %s: %s", notification, refused)
            Notification.objects.filter(pk=notification.pk).update(
                status=Notification.Status.GAVE_UP, last_error=refused
            )
            outcome[f"{notification.kind}_failed"] += 1
            continue
        text, html = render(notification)
        message = EmailMultiAlternatives(
            notification.subject, text, to=[notification.recipient], connection=connection
        )
        message.attach_alternative(html, "text/html")
        try:
            message.send()
        except Exception as exc:  # any transport failure: keep it for the next run
            log.warning("sending %s failed: %s", notification, exc)
            notification.last_error = f"{type(exc).__name__}: {exc}"[:1000]
            notification.status = (
                Notification.Status.GAVE_UP
                if notification.attempts >= settings.NOTIFICATION_MAX_ATTEMPTS
                else Notification.Status.FAILED
            )
            outcome[f"{notification.kind}_failed"] += 1
        else:
            notification.status = Notification.Status.SENT
            notification.sent_at = timezone.now()
            notification.last_error = ""
            outcome[f"{notification.kind}_sent"] += 1
        notification.save(update_fields=["attempts", "status", "sent_at", "last_error"])
    return outcome


def send_notifications(
    as_of: date, run: CheckRun | None = None, kinds=tuple(Kind.values), dry_run: bool = False
) -> dict:
    """Plan and send. With dry_run, plans, renders and rolls back: nothing is sent."""
    planned = Counter()
    previews = {}
    with transaction.atomic():
        if Kind.REMINDER in kinds:
            planned[Kind.REMINDER] = plan_reminders(as_of)
        if Kind.ALERT in kinds and run is not None:
            planned[Kind.ALERT] = plan_alerts(run)
        if Kind.DIGEST in kinds:
            planned[Kind.DIGEST] = plan_digests(as_of)
        if dry_run:
            for kind in kinds:
                first = Notification.objects.filter(kind=kind, status="pending").first()
                if first:
                    previews[kind] = {"subject": first.subject, "to": first.recipient,
                                      "text": render(first)[0]}  # fmt: skip
            transaction.set_rollback(True)
    sent = Counter() if dry_run else deliver()
    summary = {
        kind: {
            "planned": planned.get(kind, 0),
            "sent": sent.get(f"{kind}_sent", 0),
            "failed": sent.get(f"{kind}_failed", 0),
        }
        for kind in kinds
    }
    summary["as_of"] = as_of.isoformat()
    summary["dry_run"] = dry_run
    if dry_run:
        summary["previews"] = previews
    return summary
