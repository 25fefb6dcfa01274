from unittest import mock

import pytest
from django.db import DatabaseError
from django.urls import reverse

from accounts.checks import run_check
from accounts.models import CareHome, SharedMailbox
from accounts.rules import MailboxRisk
from tests.conftest import PASSWORD, TODAY, make_account


@pytest.fixture
def rosewood_at_risk(rosewood, rosewood_mailbox):
    make_account(rosewood, "quiet.carer@nhs.net", days_ago=95, mailboxes=[rosewood_mailbox])
    make_account(rosewood, "gone.quiet@nhs.net", days_ago=130, mailboxes=[rosewood_mailbox])
    make_account(
        rosewood, "leaver@nhs.net", days_ago=10, left_on=TODAY, mailboxes=[rosewood_mailbox]
    )
    run_check(TODAY)


def test_landing_page_links_to_guidance_and_sign_in(client):
    page = client.get("/")
    assert page.status_code == 200
    body = page.content.decode()
    assert 'href="/guidance/"' in body and 'href="/accounts/login/"' in body


def test_health_answers_200_with_the_database(client, db):
    body = client.get("/health/").json()
    assert body["database"] == "ok" and body["status"] == "ok"
    assert body["broker"] in {"ok", "unreachable"}
    assert body["version"]


def test_health_answers_503_without_the_database(client, db):
    from django.db.backends.utils import CursorWrapper

    def refuse(*args, **kwargs):
        raise DatabaseError("connection refused")

    with mock.patch.object(CursorWrapper, "execute", refuse):
        page = client.get("/health/")
    assert page.status_code == 503
    assert page.json()["database"] == "unreachable"


def test_sign_in_by_email_any_case_and_sign_out(client, manager):
    page = client.post(
        reverse("login"), {"username": "Jane.Manager@Example.org", "password": PASSWORD}
    )
    assert page.status_code == 302 and page.url == reverse("dashboard")
    assert client.get(reverse("dashboard")).status_code == 200
    client.post(reverse("logout"))
    assert client.get(reverse("dashboard")).status_code == 302


def test_wrong_password_says_so(client, manager):
    page = client.post(
        reverse("login"), {"username": manager.email, "password": "wrong-password-123"}
    )
    assert page.status_code == 200
    assert "The email address or password is not right" in page.content.decode()


def test_dashboard_needs_sign_in(client):
    page = client.get(reverse("dashboard"))
    assert page.status_code == 302 and page.url.startswith(reverse("login"))


def test_manager_sees_the_mailbox_at_risk_and_what_to_do(client, manager, rosewood_at_risk):
    client.force_login(manager)
    body = client.get(reverse("dashboard")).content.decode()
    assert "Rosewood Care Home" in body
    assert "No active user" in body and "Nobody active can open this mailbox" in body
    assert "Ask 2 members of staff to log in" in body
    assert "remove 1 leaver" in body
    assert "Have ODS code VM4Q7 to hand" in body and "0116 496 0000" in body


def test_manager_sees_only_their_homes(client, manager, willow):
    client.force_login(manager)
    body = client.get(reverse("dashboard")).content.decode()
    assert "Rosewood Care Home" in body and "Willow Court" not in body
    assert client.get("/homes/VN8P2/").status_code == 404
    assert client.get("/homes/vm4q7/").status_code == 200
    assert client.get("/homes/NOPE1/").status_code == 404


def test_manager_with_no_homes_is_told(client, db):
    from accounts.models import User

    user = User.objects.create_user("new.manager@example.org", PASSWORD)
    client.force_login(user)
    assert (
        "No care homes are linked to your sign-in yet" in client.get("/dashboard/").content.decode()
    )


def test_check_never_run_is_said(client, manager):
    client.force_login(manager)
    assert "The check has not run yet" in client.get("/dashboard/").content.decode()


def test_home_page_lists_staff_with_days_and_dates(client, manager, rosewood_at_risk):
    client.force_login(manager)
    body = client.get("/homes/VM4Q7/").content.decode()
    assert "quiet.carer@nhs.net" in body and "Inactive" in body
    assert "Never" not in body


def test_admin_sees_every_home_ranked_by_risk(client, admin_user, rosewood_at_risk, willow):
    healthy = SharedMailbox.objects.create(home=willow, email="willow@nhs.net")
    for n in range(2):
        make_account(willow, f"w{n}@nhs.net", days_ago=1, mailboxes=[healthy])
    run_check(TODAY)
    client.force_login(admin_user)
    body = client.get(reverse("dashboard")).content.decode()
    assert body.index("Rosewood Care Home") < body.index("Willow Court")
    filtered = client.get(reverse("dashboard"), {"risk": "healthy"}).content.decode()
    assert "Willow Court" in filtered and "Rosewood Care Home" not in filtered
    searched = client.get(reverse("dashboard"), {"q": "vm4"}).content.decode()
    assert "Rosewood Care Home" in searched and "Willow Court" not in searched


def test_admin_limited_to_a_region_sees_only_it(client, admin_user, rosewood, willow):
    admin_user.regions.add(willow.region)
    client.force_login(admin_user)
    assert client.get("/homes/VN8P2/").status_code == 200
    assert client.get("/homes/VM4Q7/").status_code == 404


@pytest.mark.parametrize("homes", [1, 30])
def test_dashboards_query_count_is_constant(
    client, manager, admin_user, homes, django_assert_num_queries
):
    for n in range(homes):
        home = CareHome.objects.create(ods_code=f"QC{n:03d}", name=f"Home {n}")
        box = SharedMailbox.objects.create(home=home, email=f"box{n}@nhs.net")
        make_account(home, f"a{n}@nhs.net", days_ago=70, mailboxes=[box])
        make_account(home, f"b{n}@nhs.net", days_ago=5, left_on=TODAY, mailboxes=[box])
        manager.homes.add(home)
    run_check(TODAY)
    client.force_login(manager)
    # No session write (RefreshSessionMiddleware); each to-do's total comes with its first
    # people (one windowed query).
    with django_assert_num_queries(7):
        assert client.get("/dashboard/").status_code == 200
    client.force_login(admin_user)
    # No session write (RefreshSessionMiddleware); the regions' versions, then the last check,
    # the count of homes, the page of homes, the mailboxes by risk and the regions to filter
    # by, read once and kept until a write changes them: the session, the user, whether they
    # see every home, the versions.
    with django_assert_num_queries(9):
        assert client.get("/dashboard/").status_code == 200
    with django_assert_num_queries(4):
        assert client.get("/dashboard/").status_code == 200


def test_admin_filters_by_state_and_email_and_downloads_the_view(
    client, admin_user, rosewood_at_risk, willow
):
    make_account(willow, "wes@nhs.net", days_ago=1)
    run_check(TODAY)
    client.force_login(admin_user)
    inactive = client.get(reverse("dashboard"), {"state": "inactive"}).content.decode()
    assert "Rosewood Care Home" in inactive and "Willow Court" not in inactive
    by_email = client.get(reverse("dashboard"), {"q": "WES@"}).content.decode()
    assert "Willow Court" in by_email and "Rosewood Care Home" not in by_email
    assert (
        'href="/dashboard/homes.csv?q=&amp;risk=at_risk'
        in client.get(reverse("dashboard"), {"risk": "at_risk"}).content.decode()
    )
    response = client.get(reverse("dashboard_csv"), {"risk": "at_risk"})
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0] == "\ufeffODS code,Name,Region,Worst risk,Soonest at risk"
    assert lines[1:] == [f"VM4Q7,Rosewood Care Home,Leicestershire,{MailboxRisk.AT_RISK.label},"]


def test_filtering_by_risk_keeps_each_homes_worst_risk(
    client, admin_user, rosewood, rosewood_mailbox
):
    make_account(rosewood, "quiet@nhs.net", days_ago=120, mailboxes=[rosewood_mailbox])
    healthy = SharedMailbox.objects.create(home=rosewood, email="office@nhs.net")
    for n in range(2):
        make_account(rosewood, f"o{n}@nhs.net", days_ago=1, mailboxes=[healthy])
    run_check(TODAY)
    client.force_login(admin_user)
    body = client.get(reverse("dashboard"), {"risk": "healthy"}).content.decode()
    assert "Rosewood Care Home" in body and ">No active user<" in body


def test_managers_cannot_download_the_admin_view(client, manager):
    client.force_login(manager)
    assert client.get(reverse("dashboard_csv")).status_code == 404
