from datetime import timedelta
from urllib.parse import unquote

import pytest
from django.urls import reverse

from accounts.checks import run_check
from accounts.models import AuditEntry, CheckRun, MailboxLink, SharedMailbox, StaffAccount
from accounts.rules import london_today
from tests.conftest import make_account

TODAY = london_today()


@pytest.fixture
def quiet_home(rosewood, rosewood_mailbox):
    """Rosewood's only linked carer has not logged in for 95 days: the mailbox is at risk."""
    carer = make_account(
        rosewood, "quiet@nhs.net", days_ago=95, mailboxes=[rosewood_mailbox], as_of=TODAY
    )
    run_check(TODAY)
    return carer


def action_url(account, action, ods="VM4Q7"):
    return reverse("account_action", args=[ods, account.pk, action])


def test_seen_log_in_is_confirmed_audited_and_recomputed_at_once(
    client, manager, quiet_home, rosewood_mailbox
):
    client.force_login(manager)
    confirm = client.get(action_url(quiet_home, "seen-log-in"))
    assert (
        confirm.status_code == 200 and "I have seen this person log in" in confirm.content.decode()
    )
    assert StaffAccount.objects.get().attested_on is None  # nothing happens on GET
    page = client.post(
        action_url(quiet_home, "seen-log-in"), {"on": TODAY.strftime("%d/%m/%Y")}, follow=True
    )
    account = StaffAccount.objects.get()
    assert account.attested_on == TODAY and account.attested_by == manager
    assert account.state == "active"
    rosewood_mailbox.refresh_from_db()
    assert rosewood_mailbox.risk == "single_user"
    body = page.content.decode()
    assert "Recorded that you saw" in body and "a manager saw them log in" in body
    entry = AuditEntry.objects.get()
    assert (entry.user, entry.action, entry.subject) == (
        manager,
        "I have seen this person log in",
        "quiet@nhs.net",
    )
    assert CheckRun.objects.filter(trigger="action", home=quiet_home.home).exists()


def test_mark_left_then_record_removal_with_a_prefilled_email(client, manager, quiet_home):
    client.force_login(manager)
    client.post(action_url(quiet_home, "left"), {"on": TODAY.strftime("%d/%m/%Y")})
    assert StaffAccount.objects.get().state == "left"
    confirm = client.get(action_url(quiet_home, "removal-requested")).content.decode()
    mailto = unquote(confirm.split('href="mailto:')[1].split('"')[0])
    assert mailto.startswith("helpdesk@nhs.net?subject=Remove leaver quiet@nhs.net")
    assert "Rosewood Care Home" in mailto and "ODS code VM4Q7" in mailto
    assert "rosewood.carehome@nhs.net" in mailto
    client.post(action_url(quiet_home, "removal-requested"), {"on": TODAY.strftime("%d/%m/%Y")})
    account = StaffAccount.objects.get()
    assert account.removal_requested_on == TODAY and account.removal_requested_by == manager
    assert AuditEntry.objects.count() == 2


def test_link_to_a_mailbox_of_the_same_home_only(client, manager, rosewood, willow_mailbox):
    office = SharedMailbox.objects.create(home=rosewood, email="office@nhs.net")
    carer = make_account(rosewood, "carer@nhs.net", days_ago=1, as_of=TODAY)
    client.force_login(manager)
    form = client.get(action_url(carer, "link")).content.decode()
    assert "office@nhs.net" in form and "willow.court@nhs.net" not in form
    refused = client.post(action_url(carer, "link"), {"mailbox": willow_mailbox.pk})
    assert refused.status_code == 200 and "Select a valid choice" in refused.content.decode()
    client.post(action_url(carer, "link"), {"mailbox": office.pk})
    assert list(MailboxLink.objects.values_list("mailbox__email", flat=True)) == ["office@nhs.net"]
    office.refresh_from_db()
    assert office.risk == "single_user"


@pytest.mark.parametrize(
    "value, message",
    [
        ("31/02/2026", "Enter a valid date"),
        ("", "This field is required"),
        ((TODAY + timedelta(days=2)).strftime("%d/%m/%Y"), "cannot be in the future"),
    ],
)
def test_bad_dates_are_explained_and_change_nothing(client, manager, quiet_home, value, message):
    client.force_login(manager)
    page = client.post(action_url(quiet_home, "left"), {"on": value})
    assert page.status_code == 200 and message in page.content.decode()
    assert StaffAccount.objects.get().left_on is None
    assert not AuditEntry.objects.exists()


def test_actions_on_another_homes_account_are_404(client, manager, willow):
    stranger = make_account(willow, "stranger@nhs.net", days_ago=1)
    client.force_login(manager)
    assert client.get(action_url(stranger, "left", ods="VN8P2")).status_code == 404
    assert (
        client.post(
            action_url(stranger, "left", ods="VM4Q7"), {"on": TODAY.strftime("%d/%m/%Y")}
        ).status_code
        == 404
    )
    assert StaffAccount.objects.get().left_on is None


def test_unknown_action_is_404(client, manager, quiet_home):
    client.force_login(manager)
    assert client.get(action_url(quiet_home, "delete-everything")).status_code == 404


def test_actions_need_csrf(manager, quiet_home):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(manager)
    assert (
        strict.post(action_url(quiet_home, "left"), {"on": TODAY.strftime("%d/%m/%Y")}).status_code
        == 403
    )


def test_home_page_shows_history_chart_and_sorts(client, manager, quiet_home, rosewood):
    make_account(rosewood, "aaron@nhs.net", days_ago=2, as_of=TODAY)
    run_check(TODAY + timedelta(days=1))
    client.force_login(manager)
    body = client.get("/homes/VM4Q7/", {"sort": "email"}).content.decode()
    assert body.index("aaron@nhs.net") < body.index("quiet@nhs.net")
    assert "<polyline" not in body and "could open rosewood.carehome@nhs.net" in body
    assert "was checked for the first time: inactive." in body


@pytest.mark.parametrize("accounts", [1, 25])
def test_home_page_query_count_is_constant(
    client, manager, rosewood, rosewood_mailbox, accounts, django_assert_num_queries
):
    for n in range(accounts):
        make_account(rosewood, f"p{n}@nhs.net", days_ago=n * 4, mailboxes=[rosewood_mailbox])
    run_check(TODAY)
    client.force_login(manager)
    # No session write (RefreshSessionMiddleware); the staff list is not counted twice (the
    # summary's count is passed on to the page); linked people in one query; the region's
    # version first, under which the page below the home's name is kept, then the home
    # read again for that page.
    with django_assert_num_queries(17):
        assert client.get("/homes/VM4Q7/").status_code == 200
    # Kept: the session, the user, the home and its region's version (the last run is kept
    # with the page).
    with django_assert_num_queries(4):
        assert client.get("/homes/VM4Q7/").status_code == 200
