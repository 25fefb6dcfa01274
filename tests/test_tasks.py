"""The nightly task through a real Celery worker on the configured broker (Redis in CI,
the filesystem broker otherwise)."""

import time

import pytest
from celery.contrib.testing.worker import start_worker

from accounts.models import CheckRun, StaffAccount
from accounts.tasks import nightly_check
from carehome_portal.celery import app
from tests.conftest import TODAY, make_account


@pytest.mark.django_db(transaction=True)
def test_nightly_task_runs_the_check_in_a_worker(rosewood, rosewood_mailbox):
    make_account(rosewood, "amy@nhs.net", days_ago=95, mailboxes=[rosewood_mailbox])
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        nightly_check.delay(as_of=TODAY.isoformat(), trigger="beat")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            run = CheckRun.objects.filter(trigger="beat").first()
            if run and run.outcome != "running":
                break
            time.sleep(0.2)
    assert run is not None and run.outcome == "ok"
    assert run.as_of == TODAY
    assert StaffAccount.objects.get().state == "inactive"


def test_task_returns_the_summary(rosewood_staff_minimal):
    summary = nightly_check.apply(kwargs={"as_of": TODAY.isoformat(), "trigger": "admin"}).get()
    assert summary["trigger"] == "admin" and summary["checked"] == 1
    assert summary["accounts"]["active"] == 1


@pytest.fixture
def rosewood_staff_minimal(rosewood, rosewood_mailbox):
    return make_account(rosewood, "amy@nhs.net", days_ago=1, mailboxes=[rosewood_mailbox])


def test_beat_schedule_is_in_the_database_at_half_past_two_london(db):
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(task="accounts.tasks.nightly_check")
    assert (task.crontab.hour, task.crontab.minute) == ("2", "30")
    assert str(task.crontab.timezone) == "Europe/London"
    assert task.enabled
