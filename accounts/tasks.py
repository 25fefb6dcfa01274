from datetime import date

from celery import shared_task
from django.db import InterfaceError, OperationalError
from kombu.exceptions import OperationalError as BrokerError

from .checks import run_check
from .models import AuditEntry, CheckRun
from .rules import london_today


@shared_task(
    acks_late=True,
    time_limit=60 * 60,
    soft_time_limit=55 * 60,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=60,
    max_retries=3,
)
def nightly_check(as_of: str | None = None, trigger: str = CheckRun.Trigger.BEAT) -> dict:
    """The nightly check as a Celery task: returns the run's summary."""
    day = date.fromisoformat(as_of) if as_of else london_today()
    return run_check(day, trigger=trigger).summary()


@shared_task(acks_late=True, time_limit=2 * 60 * 60)
def import_file(kind: str, path: str, user_id: int, skip_bad_rows: bool, file_name: str) -> int:
    """A large upload, imported in the worker; returns the import record's id."""
    from .importweb import import_upload

    return import_upload(kind, path, user_id, skip_bad_rows, file_name)


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
