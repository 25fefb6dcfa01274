from datetime import date

from celery import shared_task
from django.db import InterfaceError, OperationalError

from .checks import run_check
from .models import CheckRun
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
