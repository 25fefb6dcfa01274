import logging
from datetime import date

from celery import shared_task
from django.db import InterfaceError, OperationalError
from kombu.exceptions import OperationalError as BrokerError

from .checks import run_check
from .models import AuditEntry, CheckRun, Notification
from .notify import send_notifications
from .rules import london_today
from .sweeps import sweep, sweep_stale_imports

log = logging.getLogger(__name__)


BROKER_DOWN = (BrokerError, OSError)


def publish(task, **options):
    """Queue a task in one attempt, or raise one of BROKER_DOWN within about
    BROKER_CONNECT_TIMEOUT seconds: a page must not hang on a broker that is down (kombu's
    default is to retry with back-off for about 6 seconds before giving up)."""
    with task.app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0)
        return task.apply_async(connection=connection, retry=False, **options)


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
    sweep()  # runs and imports whose process died are marked failed first
    run = run_check(day, trigger=trigger, full=full)
    if run.outcome == CheckRun.Outcome.OK:
        try:
            publish(notify_after_check, args=[day.isoformat(), run.pk])
        except BROKER_DOWN as exc:  # the check stands; the next run plans them
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
) -> int | None:
    """A large upload, imported in the worker; returns the import record's id (None if it
    was handled already)."""
    from .imports.web import import_upload

    sweep_stale_imports()
    return import_upload(kind, path, user_id, skip_bad_rows, file_name, ods)


@shared_task(acks_late=True, time_limit=5 * 60, soft_time_limit=4 * 60)
def send_password_reset(email: str) -> int:
    """A password reset email, sent here so that the page takes the same time for every
    address; returns how many were sent (0 for an address without a sign-in)."""
    from .forms import PortalPasswordResetForm

    return PortalPasswordResetForm.send_now(email)


@shared_task(acks_late=True, time_limit=2 * 60 * 60)
def check_upload(kind: str, path: str, user_id: int, file_name: str, ods: str | None = None) -> int:
    """The dry run of a large upload, in the worker; returns its record's id."""
    from .imports.web import check_upload as check

    return check(kind, path, user_id, file_name, ods)


def queue_check(user) -> tuple[bool, str]:
    """Queue the check for today as an admin asked; says whether it could be queued."""
    try:
        publish(nightly_check, kwargs={"trigger": CheckRun.Trigger.ADMIN})
    except BROKER_DOWN as exc:
        AuditEntry.record(user, "Run the check now", detail=f"not queued: {exc}")
        return False, (
            f"The check could not be queued: the task broker is not reachable ({exc}). "
            "Run `python manage.py check_inactivity` on the server instead."
        )
    AuditEntry.record(user, "Run the check now", detail="queued")
    return True, "The check has been queued; its result will show here when it finishes."
