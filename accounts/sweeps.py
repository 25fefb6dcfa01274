"""Records whose process is gone. A check or an import killed outright (SIGKILL, a machine
restart, the task's hard time limit) cannot say it failed: its run or import record would
stay "running" for ever. No run or import outlives its task's time limit, so one still
running well past it is marked failed, with the reason, at the start of the next run."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from .imports.web import WAITING, forget_upload
from .models import CheckRun, ImportRecord

RUN_GONE = (
    "The check stopped without finishing (its process ended: killed, restarted or out of "
    "time). Nothing it did was kept; the next run checks everything again."
)
IMPORT_GONE = (
    "The import: it stopped without finishing (the worker ended: killed, "
    "restarted or out of time) and wrote nothing. Upload the file again."
)
IMPORT_NEVER_STARTED = (
    "The import: no worker took the import in time (is the worker running?); nothing "
    "was written. Upload the file again."
)


def stale_after(record: ImportRecord):
    """When a queued or running import counts as gone."""
    return record.started_at + timedelta(minutes=settings.STALE_IMPORT_MINUTES)


def sweep_stale_runs(now=None) -> int:
    """Mark check runs still running after STALE_CHECK_RUN_MINUTES as failed."""
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=settings.STALE_CHECK_RUN_MINUTES)
    return CheckRun.objects.filter(outcome=CheckRun.Outcome.RUNNING, started_at__lt=cutoff).update(
        outcome=CheckRun.Outcome.FAILED, error=RUN_GONE, finished_at=now
    )


def sweep_stale_imports(now=None) -> int:
    """Mark portal imports queued or running for over STALE_IMPORT_MINUTES as failed and
    delete their uploads (nothing will read them now)."""
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=settings.STALE_IMPORT_MINUTES)
    swept = 0
    for outcome, reason in zip(WAITING, (IMPORT_NEVER_STARTED, IMPORT_GONE), strict=True):
        stale = ImportRecord.objects.filter(outcome=outcome, started_at__lt=cutoff)
        tokens = list(stale.values_list("token", flat=True))
        swept += stale.update(
            outcome=ImportRecord.Outcome.FAILED,
            errors=[reason],
            error_count=1,
            finished_at=now,
        )
        for token in tokens:
            forget_upload(token)
    return swept


def sweep(now=None) -> dict:
    return {"runs": sweep_stale_runs(now), "imports": sweep_stale_imports(now)}
