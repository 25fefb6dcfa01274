"""The nightly task through a real Celery worker on the configured broker (Redis in CI,
the filesystem broker otherwise)."""

import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.core import mail

from accounts.models import CheckRun, Notification, StaffAccount
from accounts.tasks import nightly_check
from carehome_portal.celery import app
from tests.conftest import TODAY, make_account


def wait_for(condition, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.django_db(transaction=True)
def test_nightly_task_runs_the_check_then_the_reminders_in_a_worker(rosewood, rosewood_mailbox):
    make_account(rosewood, "amy@nhs.net", days_ago=95, mailboxes=[rosewood_mailbox])
    make_account(rosewood, "ben@nhs.net", days_ago=83, mailboxes=[rosewood_mailbox])  # 7 days left
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        nightly_check.delay(as_of=TODAY.isoformat(), trigger="beat")
        assert wait_for(lambda: Notification.objects.filter(status="sent").exists())
    run = CheckRun.objects.get(trigger="beat")
    assert run.outcome == "ok" and run.as_of == TODAY
    assert StaffAccount.objects.get(email="amy@nhs.net").state == "inactive"
    reminder = Notification.objects.get()
    assert (reminder.kind, reminder.recipient) == ("reminder", "ben@nhs.net")
    assert [m.to for m in mail.outbox] == [["ben@nhs.net"]]


def test_task_returns_the_summary(rosewood_staff_minimal):
    summary = nightly_check.apply(kwargs={"as_of": TODAY.isoformat(), "trigger": "admin"}).get()
    assert summary["trigger"] == "admin" and summary["checked"] == 1
    assert summary["accounts"]["active"] == 1


@pytest.fixture
def rosewood_staff_minimal(rosewood, rosewood_mailbox):
    return make_account(rosewood, "amy@nhs.net", days_ago=1, mailboxes=[rosewood_mailbox])


def test_beat_schedules_are_in_the_database_in_london_time(db):
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(name="Nightly inactivity check")
    assert (task.crontab.hour, task.crontab.minute) == ("2", "30")
    full = PeriodicTask.objects.get(name="Weekly full inactivity check")
    assert (full.task, full.kwargs) == (
        "accounts.tasks.nightly_check",
        '{"trigger": "beat", "full": true}',
    )
    assert (full.crontab.day_of_week, full.crontab.hour) == ("0", "4")
    assert str(task.crontab.timezone) == "Europe/London"
    assert task.enabled
    digest = PeriodicTask.objects.get(task="accounts.tasks.weekly_digest")
    assert (digest.crontab.day_of_week, digest.crontab.hour) == ("1", "7")
