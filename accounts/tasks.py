import logging
from datetime import date

from celery import shared_task
from django.db import InterfaceError, OperationalError
from kombu.exceptions import OperationalError as BrokerError

from .checks import run_check
from .models import AuditEntry, CheckRun, Notification
from .notify import send_notifications
from .rules import london_today

log = logging.getLogger(__name__)


@shared_task(
    acks_late=True,
    time_limit=60 * 60,
    soft_time_limit=55 * 60,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=60,
    max_retries=3,
)
def nightly_check(
    as_of: str | None = None, trigger: str = CheckRun.Trigger.BEAT, full: bool = False
) -> dict:
    """The nightly check as a Celery task (`full` weekly): returns the run's summary."""
    day = date.fromisoformat(as_of) if as_of else london_today()
    run = run_check(day, trigger=trigger, full=full)
    if run.outcome == CheckRun.Outcome.OK:
        try:
            notify_after_check.apply_async(args=[day.isoformat(), run.pk], retry=False)
        except (BrokerError, OSError) as exc:  # the check stands; the next run plans them
            log.warning("could not queue notifications after run %s: %s", run.pk, exc)
    return run.summary()


@shared_task(acks_late=True, time_limit=30 * 60, soft_time_limit=25 * 60)
def notify_after_check(as_of: str, run_id: int) -> dict:
    """Reminders and admin alerts for a finished check."""
    run = CheckRun.objects.get(pk=run_id)
    kinds = (Notification.Kind.REMINDER, Notification.Kind.ALERT)
    return send_notifications(date.fromisoformat(as_of), run=run, kinds=kinds)


@shared_task(acks_late=True, time_limit=30 * 60, soft_time_limit=25 * 60)
def weekly_digest() -> dict:
    """The managers' weekly digest (scheduled in the admin: Periodic tasks)."""
    return send_notifications(london_today(), kinds=(Notification.Kind.DIGEST,))


@shared_task(acks_late=True, time_limit=2 * 60 * 60)
def import_file(
    kind: str, path: str, user_id: int, skip_bad_rows: bool, file_name: str, ods: str | None = None
) -> int:
    """A large upload, imported in the worker; returns the import record's id."""
    from .importweb import import_upload

    return import_upload(kind, path, user_id, skip_bad_rows, file_name, ods)


@shared_task(acks_late=True, time_limit=2 * 60 * 60)
def check_upload(kind: str, path: str, user_id: int, file_name: str, ods: str | None = None) -> int:
    """The dry run of a large upload, in the worker; returns its record's id."""
    from .importweb import check_upload as check

    return check(kind, path, user_id, file_name, ods)


def queue_check(user) -> tuple[bool, str]:
    """Queue the check for today as an admin asked; says whether it could be queued."""
    try:
        nightly_check.apply_async(kwargs={"trigger": CheckRun.Trigger.ADMIN}, retry=False)
    except (BrokerError, OSError) as exc:
        AuditEntry.record(user, "Run the check now", detail=f"not queued: {exc}")
        return False, (
            f"The check could not be queued: the task broker is not reachable ({exc}). "
            "Run `python manage.py check_inactivity` on the server instead."
        )
    AuditEntry.record(user, "Run the check now", detail="queued")
    return True, "The check has been queued; its result will show here when it finishes."
