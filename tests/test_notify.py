import io
import json
import smtplib
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend
from django.core.management import call_command
from django.urls import reverse

from accounts.checks import run_check
from accounts.models import Notification, SharedMailbox, StaffAccount, User
from accounts.notify import check_in_token, send_notifications
from tests.conftest import TODAY, make_account


class FlakySMTP(EmailBackend):
    """Refuses mail for the addresses in `refusing`, as a server that drops the line."""

    refusing: set[str] = set()

    def send_messages(self, messages):
        for message in messages:
            if message.to[0] in self.refusing:
                raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        return super().send_messages(messages)


def reminder_in(days, rosewood, mailbox, email="carer@nhs.net"):
    """An active account whose disable date is `days` away from TODAY."""
    return make_account(rosewood, email, days_ago=90 - days, mailboxes=[mailbox])


@pytest.mark.parametrize(
    "days, expected", [(30, 1), (14, 1), (7, 1), (1, 1), (29, 0), (15, 0), (2, 0)]
)
def test_reminders_go_only_on_the_reminder_days(rosewood, rosewood_mailbox, days, expected):
    reminder_in(days, rosewood, rosewood_mailbox)
    run_check(TODAY)
    summary = send_notifications(TODAY, kinds=("reminder",))
    assert summary["reminder"] == {"planned": expected, "sent": expected, "failed": 0}
    assert len(mail.outbox) == expected
    if expected:
        message = mail.outbox[0]
        disable = (TODAY + timedelta(days=days)).strftime("%-d %B %Y")
        assert message.subject == f"Log in to NHSmail by {disable} to keep your account"
        assert message.to == ["carer@nhs.net"]
        assert "0333 200 1133" in message.body and "/check-in/" in message.body
        assert message.alternatives[0][1] == "text/html"


def test_running_twice_sends_nothing_twice(rosewood, rosewood_mailbox):
    reminder_in(7, rosewood, rosewood_mailbox)
    run_check(TODAY)
    send_notifications(TODAY)
    again = send_notifications(TODAY)
    assert again["reminder"] == {"planned": 0, "sent": 0, "failed": 0}
    assert len(mail.outbox) == 1


def test_opted_out_staff_get_no_reminder(rosewood, rosewood_mailbox):
    reminder_in(7, rosewood, rosewood_mailbox)
    StaffAccount.objects.update(reminders_opt_out=True)
    run_check(TODAY)
    assert send_notifications(TODAY)["reminder"]["planned"] == 0


def test_failing_smtp_is_logged_retried_and_does_not_stop_the_others(
    rosewood, rosewood_mailbox, settings
):
    settings.EMAIL_BACKEND = "tests.test_notify.FlakySMTP"
    FlakySMTP.refusing = {"broken@nhs.net"}
    reminder_in(7, rosewood, rosewood_mailbox, email="broken@nhs.net")
    reminder_in(7, rosewood, rosewood_mailbox, email="fine@nhs.net")
    run_check(TODAY)
    summary = send_notifications(TODAY, kinds=("reminder",))
    assert summary["reminder"] == {"planned": 2, "sent": 1, "failed": 1}
    failed = Notification.objects.get(recipient="broken@nhs.net")
    assert failed.status == "failed" and "SMTPServerDisconnected" in failed.last_error
    FlakySMTP.refusing = set()  # the server is back
    retry = send_notifications(TODAY, kinds=("reminder",))
    assert retry["reminder"] == {"planned": 0, "sent": 1, "failed": 0}
    assert sorted(m.to[0] for m in mail.outbox) == ["broken@nhs.net", "fine@nhs.net"]
    assert Notification.objects.get(recipient="broken@nhs.net").attempts == 2


def test_digest_lists_what_to_do_and_is_not_sent_when_all_is_well(
    manager, rosewood, rosewood_mailbox, willow
):
    make_account(rosewood, "quiet@nhs.net", days_ago=70, mailboxes=[rosewood_mailbox])
    make_account(rosewood, "gone@nhs.net", days_ago=5, left_on=TODAY, mailboxes=[rosewood_mailbox])
    happy = User.objects.create_user("happy@example.org", "a-long-test-password-42")
    box = SharedMailbox.objects.create(home=willow, email="willow@nhs.net")
    happy.homes.add(willow)
    for n in range(2):
        make_account(willow, f"w{n}@nhs.net", days_ago=1, mailboxes=[box])
    run_check(TODAY)
    summary = send_notifications(TODAY, kinds=("digest",))
    assert summary["digest"]["sent"] == 1
    [digest] = mail.outbox
    assert digest.to == ["jane.manager@example.org"]
    assert "Rosewood Care Home (ODS code VM4Q7)" in digest.body
    assert "quiet@nhs.net" in digest.body and "by " in digest.body
    assert "remove these leavers" in digest.body and "gone@nhs.net" in digest.body
    assert "Willow" not in digest.body
    assert send_notifications(TODAY, kinds=("digest",))["digest"]["planned"] == 0  # same week


def test_digest_respects_the_managers_preference(client, manager, rosewood, rosewood_mailbox):
    make_account(rosewood, "quiet@nhs.net", days_ago=70, mailboxes=[rosewood_mailbox])
    run_check(TODAY)
    client.force_login(manager)
    client.post(reverse("email_preferences"), {})
    manager.refresh_from_db()
    assert manager.digest_opt_out
    assert send_notifications(TODAY, kinds=("digest",))["digest"]["planned"] == 0


def test_admin_alert_only_when_a_mailbox_becomes_at_risk(admin_user, rosewood, rosewood_mailbox):
    make_account(rosewood, "last@nhs.net", days_ago=85, mailboxes=[rosewood_mailbox])
    first = run_check(TODAY)
    assert send_notifications(TODAY, run=first, kinds=("alert",))["alert"]["planned"] == 0
    later = run_check(TODAY + timedelta(days=6))  # 91 days: the last account goes inactive
    assert send_notifications(TODAY, run=later, kinds=("alert",))["alert"]["sent"] == 1
    [alert] = mail.outbox
    assert alert.to == [admin_user.email] and "Rosewood Care Home (ODS code VM4Q7" in alert.body
    steady = run_check(TODAY + timedelta(days=7))
    assert send_notifications(TODAY, run=steady, kinds=("alert",))["alert"]["planned"] == 0


@pytest.fixture
def reminder(rosewood, rosewood_mailbox):
    reminder_in(7, rosewood, rosewood_mailbox)
    run_check(TODAY)
    send_notifications(TODAY, kinds=("reminder",))
    return Notification.objects.get()


def test_check_in_link_records_a_self_check_in_once(client, reminder):
    url = reverse("check_in", args=[check_in_token(reminder)])
    page = client.get(url)
    assert page.status_code == 200 and "Have you just logged in" in page.content.decode()
    assert StaffAccount.objects.get().attested_on is None  # a GET changes nothing
    done = client.post(url, {"choice": "check-in"})
    assert "We have recorded that you logged in today" in done.content.decode()
    account = StaffAccount.objects.get()
    assert account.attested_on is not None and account.attested_by is None
    assert account.state == "active"
    reused = client.post(url, {"choice": "check-in"})
    assert reused.status_code == 400 and "used already" in reused.content.decode()


def test_check_in_link_expires_after_14_days(client, reminder):
    token = check_in_token(reminder)
    with time_machine.travel(timedelta(days=15)):
        page = client.get(reverse("check_in", args=[token]))
    assert page.status_code == 400 and "This link has expired" in page.content.decode()


@pytest.mark.parametrize(
    "token", ["nonsense", "eyJuIjoxfQ:1abcde:forgedsignature0000000000000000000000000000"]
)
def test_tampered_check_in_link_is_a_clear_page(client, reminder, token):
    page = client.get(reverse("check_in", args=[token]))
    assert page.status_code == 400 and "This link does not work" in page.content.decode()


def test_stop_reminders_from_the_link(client, reminder):
    client.post(reverse("check_in", args=[check_in_token(reminder)]), {"choice": "stop"})
    assert StaffAccount.objects.get().reminders_opt_out


def test_command_json_and_dry_run(rosewood, rosewood_mailbox):
    reminder_in(14, rosewood, rosewood_mailbox)
    run_check(TODAY)
    out = io.StringIO()
    call_command("send_notifications", "--as-of", TODAY.isoformat(), "--dry-run", stdout=out)
    assert "Staff reminder: 1 planned, 1 would be sent" in out.getvalue()
    assert "Log in to NHSmail by" in out.getvalue()
    assert not Notification.objects.exists() and mail.outbox == []
    out = io.StringIO()
    call_command("send_notifications", "--as-of", TODAY.isoformat(), "--json", stdout=out)
    body = json.loads(out.getvalue())
    assert body["reminder"] == {"planned": 1, "sent": 1, "failed": 0}
    assert set(body) >= {"reminder", "digest", "alert", "as_of"}


class ReentrantSMTP(EmailBackend):
    """While sending its first message, another delivery runs (a manual send_notifications
    overlapping the worker's)."""

    def send_messages(self, messages):
        if not getattr(ReentrantSMTP, "nested", False):
            ReentrantSMTP.nested = True
            from accounts.notify import deliver

            deliver()
        return super().send_messages(messages)


def test_overlapping_deliveries_send_each_email_once(rosewood, rosewood_mailbox, settings):
    for n, days in enumerate((30, 14, 7)):
        reminder_in(days, rosewood, rosewood_mailbox, email=f"carer{n}@nhs.net")
    run_check(TODAY)
    settings.EMAIL_BACKEND = "tests.test_notify.ReentrantSMTP"
    ReentrantSMTP.nested = False
    send_notifications(TODAY, kinds=("reminder",))
    assert sorted(m.to[0] for m in mail.outbox) == [
        "carer0@nhs.net",
        "carer1@nhs.net",
        "carer2@nhs.net",
    ]
    assert set(Notification.objects.values_list("status", "attempts")) == {("sent", 1)}


def test_a_claim_left_by_a_dead_delivery_is_sent_later(rosewood, rosewood_mailbox):
    reminder_in(7, rosewood, rosewood_mailbox)
    run_check(TODAY)
    send_notifications(TODAY, kinds=("reminder",), dry_run=False)
    mail.outbox.clear()
    stuck = Notification.objects.get()
    Notification.objects.filter(pk=stuck.pk).update(
        status="sending", claimed_at=stuck.created_at - timedelta(hours=2), attempts=1
    )
    from accounts.notify import deliver

    assert deliver()["reminder_sent"] == 1
    assert len(mail.outbox) == 1
