"""What pages keep between requests, like the worklist's counts (worklistcounts.py): the
admin dashboard's figures (its mailboxes by risk, its count of homes) and a home page below
the home's name. Each is kept until a write changes it, never served after: each test opens
a page, writes through a public edge, and opens it again. An admin's figures are their own
regions'."""

import io
from datetime import timedelta

import pytest
from django.core.cache import caches
from django.core.management import call_command
from django.db import connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts import worklistcounts
from accounts.checks import run_check
from accounts.models import CareHome, SharedMailbox, StaffAccount, User
from accounts.rules import london_today
from tests.conftest import PASSWORD, make_account

TODAY = london_today()


@pytest.fixture
def homes(rosewood, rosewood_mailbox, willow, willow_mailbox):
    """Rosewood (Leicestershire) with Amy at 75 days and Cat at 3; Willow (Yorkshire) with
    Wes at 100 days, alone on its mailbox."""
    make_account(rosewood, "amy.adams@nhs.net", days_ago=75, mailboxes=[rosewood_mailbox],
                 as_of=TODAY)  # fmt: skip
    make_account(rosewood, "cat.cole@nhs.net", days_ago=3, mailboxes=[rosewood_mailbox],
                 as_of=TODAY)  # fmt: skip
    make_account(willow, "wes.west@nhs.net", days_ago=100, mailboxes=[willow_mailbox],
                 as_of=TODAY)  # fmt: skip
    run_check(TODAY)


def figures(client, **params) -> tuple[dict, int]:
    """What the dashboard says: mailboxes per risk, and how many homes its view holds."""
    context = client.get(reverse("dashboard"), params).context
    totals = {risk.value: n for risk, n in context["totals"].items() if n}
    return totals, context["page"].paginator.count


def counted(mailboxes=None) -> dict:
    mailboxes = SharedMailbox.objects.all() if mailboxes is None else mailboxes
    return dict(mailboxes.values_list("risk").annotate(n=Count("id")).order_by())


def test_the_totals_follow_the_nights_check_at_once(client, admin_user, homes):
    client.force_login(admin_user)
    before = figures(client)
    assert before == ({"at_risk": 1, "healthy": 1}, 2) and before[0] == counted()
    assert figures(client) == before  # kept
    # Sixty days on: Amy's 75 days become 135, Cat's 3 become 63, Wes's 160.
    call_command("check_inactivity", "--as-of", str(TODAY + timedelta(days=60)),
                 stdout=io.StringIO())  # fmt: skip
    totals, homes_count = figures(client)
    assert totals == counted() and homes_count == 2
    assert totals == {"at_risk": 1, "single_user": 1}


def test_each_admin_sees_their_regions_figures(client, admin_user, midlands, north, homes):
    regional = User.objects.create_user("rita.region@example.org", PASSWORD, role="admin")
    regional.regions.add(midlands)
    client.force_login(admin_user)
    assert figures(client) == ({"at_risk": 1, "healthy": 1}, 2)
    client.force_login(regional)
    assert figures(client) == ({"healthy": 1}, 1)
    assert figures(client, q="VN8P2") == ({"healthy": 1}, 0)  # Willow: not theirs
    regional.regions.add(north)
    assert figures(client) == ({"at_risk": 1, "healthy": 1}, 2)


def test_the_count_of_each_view_follows_an_import(client, admin_user, homes, tmp_path):
    client.force_login(admin_user)
    assert figures(client)[1] == 2
    assert figures(client, q="Rose")[1] == 1
    path = tmp_path / "homes.csv"
    path.write_text("ods_code,name\nAB123,Rose Lodge\n")
    call_command("import_homes", str(path), stdout=io.StringIO())
    assert figures(client)[1] == 3
    assert figures(client, q="Rose")[1] == 2
    assert figures(client, risk="at_risk")[1] == 1


def home_page(client, **params) -> str:
    return client.get(reverse("home_detail", args=["VM4Q7"]), params).content.decode()


def queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_a_home_page_is_kept_until_a_managers_action(client, manager, homes):
    client.force_login(manager)
    url = reverse("home_detail", args=["VM4Q7"])
    assert queries(client, url) > queries(client, url) == 5  # kept below the home's name
    assert "Waiting for NHSmail" not in home_page(client)
    amy = StaffAccount.objects.get(email="amy.adams@nhs.net")
    action = reverse("account_action", args=["VM4Q7", amy.pk, "removal-requested"])
    assert client.post(action, {"on": TODAY.strftime("%d/%m/%Y")}).status_code == 302
    assert "Waiting for NHSmail since" in home_page(client)


def test_a_home_page_follows_the_nights_check_and_an_import(client, manager, homes, tmp_path):
    client.force_login(manager)
    assert "Disabled on" not in home_page(client)
    call_command("check_inactivity", "--as-of", str(TODAY + timedelta(days=60)),
                 stdout=io.StringIO())  # fmt: skip
    assert "Disabled on" in home_page(client)  # Amy's 135 days
    path = tmp_path / "accounts.csv"
    path.write_text("email,ods_code,display_name\namy.adams@nhs.net,VM4Q7,Amy Renamed\n")
    assert "Amy Renamed" not in home_page(client)
    call_command("import_accounts", str(path), stdout=io.StringIO())
    assert "Amy Renamed" in home_page(client)


def test_a_home_page_follows_an_edit_in_the_admin(client, superuser, manager, homes):
    client.force_login(manager)
    assert "0116 496 0000" in home_page(client) and "0116 496 9999" not in home_page(client)
    client.force_login(superuser)
    home = CareHome.objects.get(ods_code="VM4Q7")
    url = reverse("admin:accounts_carehome_change", args=[home.pk])
    fields = {"ods_code": home.ods_code, "name": home.name, "region": home.region_id,
              "registered_landline": "0116 496 9999", "risk_rank": home.risk_rank}  # fmt: skip
    assert client.post(url, fields).status_code == 302
    client.force_login(manager)
    assert "0116 496 9999" in home_page(client)


def test_each_sort_and_page_of_a_home_is_kept_apart(client, manager, rosewood, homes):
    client.force_login(manager)
    for n in range(55):  # two pages of people
        StaffAccount.objects.create(home=rosewood, email=f"z{n:02d}@nhs.net")

    def staff(**params) -> str:
        return home_page(client, **params).split('id="staff"')[1]

    by_disable_date, by_state = staff(), staff(sort="state")  # not yet checked: first
    assert by_disable_date.index("amy.adams") < by_disable_date.index("z00")
    assert "z00" in by_state and "amy.adams" not in by_state  # on the second page
    second = staff(sort="state", page=2)
    assert "amy.adams" in second and "z00" not in second


def test_the_dashboards_rows_follow_the_view_and_an_edit(client, superuser, admin_user, homes):
    def names(**params) -> list[str]:
        rows = client.get(reverse("dashboard"), params).context["rows"]
        return [row.name for row in rows]

    client.force_login(admin_user)
    assert names() == ["Willow Court", "Rosewood Care Home"]  # at risk first
    assert names(q="Rose") == ["Rosewood Care Home"]
    assert names(risk="healthy") == ["Rosewood Care Home"]
    assert names(page=2) == names()  # past the last page: the last page
    client.force_login(superuser)
    home = CareHome.objects.get(ods_code="VN8P2")
    url = reverse("admin:accounts_carehome_change", args=[home.pk])
    fields = {"ods_code": home.ods_code, "name": "Willow House", "region": home.region_id,
              "risk_rank": home.risk_rank}  # fmt: skip
    assert client.post(url, fields).status_code == 302
    client.force_login(admin_user)
    assert names() == ["Willow House", "Rosewood Care Home"]


def test_an_orm_write_renews_the_page_once_committed(
    client, manager, rosewood_mailbox, homes, django_capture_on_commit_callbacks
):
    client.force_login(manager)
    assert "rosewood.carehome" in home_page(client).replace("<wbr>", "")
    with django_capture_on_commit_callbacks(execute=True) as bumps:
        rosewood_mailbox.delete()  # and its links with it
    assert len(bumps) == 3  # the mailbox and its two links
    assert "rosewood.carehome" not in home_page(client).replace("<wbr>", "")


def test_a_deleted_home_renews_the_versions_once(
    rosewood, homes, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as bumps:
        rosewood.delete()  # with its two accounts, its mailbox and their links
    assert len(bumps) == 1


def test_pages_are_kept_a_day_and_counts_a_week(client, admin_user, manager, homes, monkeypatch):
    """A page is larger than a count and there are many: the nightly check renews every
    region, so a kept page need not outlive a day."""
    timeouts = []
    backend = type(caches["default"])
    real_set = backend.set

    def recording_set(self, key, value, timeout=None, **kwargs):
        first = type(value[0]).__name__ if isinstance(value, list) and value else ""
        timeouts.append((type(value).__name__, first, timeout))
        return real_set(self, key, value, timeout, **kwargs)

    monkeypatch.setattr(backend, "set", recording_set)
    page, week = worklistcounts.PAGE_SECONDS, worklistcounts.KEEP_SECONDS
    assert (page, week) == (24 * 3600, 7 * 24 * 3600)
    client.force_login(manager)
    home_page(client)
    assert timeouts == [("SafeString", "", page)]
    client.force_login(admin_user)
    timeouts.clear()
    client.get(reverse("dashboard"))
    assert ("list", "HomeRow", page) in timeouts and ("int", "", week) in timeouts
    timeouts.clear()
    client.get(reverse("worklist"))
    rows = [timeout for kind, first, timeout in timeouts if first == "dict"]
    assert rows == [page, page]  # a page of people, a page of mailboxes
    assert ("list", "tuple", week) in timeouts  # the people per to-do and date
