"""The admin dashboard's figures (its mailboxes by risk and its count of homes) are kept
between pages like the worklist's counts (worklistcounts.py), never served after a write
that changed them, and each admin's are their own regions'."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db.models import Count
from django.urls import reverse

from accounts.checks import run_check
from accounts.models import SharedMailbox, User
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
