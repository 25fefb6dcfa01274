"""The worklist's counts are kept between pages (worklistcounts.py), and are never served
after a write that changed them: each test opens the worklist first, so its counts are
kept, then writes through a public edge and opens it again."""

import io
from collections import Counter
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts import checks, dashboard
from accounts.checks import run_check
from accounts.checkscope import CheckBusy
from accounts.models import CareHome, Region, StaffAccount, User
from accounts.rules import london_today
from accounts.scoping import homes_for
from tests.conftest import PASSWORD, make_account

TODAY = london_today()


@pytest.fixture
def homes(rosewood, rosewood_mailbox, willow, willow_mailbox):
    """Rosewood (Leicestershire): Amy to chase, Lee a leaver to remove, Cat active;
    Willow (Yorkshire): Wes to chase."""
    make_account(rosewood, "amy.adams@nhs.net", days_ago=75, mailboxes=[rosewood_mailbox],
                 as_of=TODAY)  # fmt: skip
    make_account(rosewood, "lee.long@nhs.net", days_ago=10, status="leaver", as_of=TODAY)
    make_account(rosewood, "cat.cole@nhs.net", days_ago=3, mailboxes=[rosewood_mailbox],
                 as_of=TODAY)  # fmt: skip
    make_account(willow, "wes.west@nhs.net", days_ago=100, mailboxes=[willow_mailbox],
                 as_of=TODAY)  # fmt: skip
    run_check(TODAY)


def worklist(client, **params) -> tuple[int, Counter, dict[str, str]]:
    """What the worklist page says: how many people, how many per to-do, who is on which."""
    page = client.get(reverse("worklist"), params).context["people"]
    per_todo = Counter()
    for todo, _, people in page.paginator.object_list.groups():
        per_todo[todo] += people
    return page.paginator.count, per_todo, {p["email"]: p["todo"] for p in page.object_list}


def cards(user, region=None) -> Counter:
    """The to-dos the home cards count, over the user's homes (of one region)."""
    homes = homes_for(user)
    homes = homes if region is None else homes.filter(region=region)
    totals = Counter()
    for summary in dashboard.summaries(homes):
        totals.update({todo: n for todo, n in summary.totals.items() if n})
    return totals


def agrees(client, user, **params) -> tuple[int, Counter, dict[str, str]]:
    count, per_todo, rows = worklist(client, **params)
    region = Region.objects.get(pk=params["region"]) if "region" in params else None
    assert per_todo == cards(user, region)
    assert count == sum(per_todo.values()) == len(rows)
    return count, per_todo, rows


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def manager_client(manager):
    other = Client()
    other.force_login(manager)
    return other


def action(account, slug):
    return reverse("account_action", args=[account.home.ods_code, account.pk, slug])


def test_a_managers_action_changes_the_worklist_at_once(
    admin_client, admin_user, manager_client, homes
):
    before = agrees(admin_client, admin_user)
    assert before[0] == 3 and before[2]["amy.adams@nhs.net"] == "to_chase"
    amy = StaffAccount.objects.get(email="amy.adams@nhs.net")
    manager_client.post(action(amy, "left"), {"on": TODAY.strftime("%d/%m/%Y")})
    count, per_todo, rows = agrees(admin_client, admin_user)
    assert rows["amy.adams@nhs.net"] == "leavers"
    assert per_todo == {"to_chase": 1, "leavers": 2}


@contextmanager
def _busy(scope):
    raise CheckBusy("the nightly check holds the lock")
    yield  # pragma: no cover


def test_a_removal_request_counts_at_once_while_the_check_is_busy(
    admin_client, admin_user, manager_client, homes, monkeypatch
):
    """The action's recheck is skipped (the nightly run holds the lock): the request itself
    still moves the leaver from "to remove" to "waiting"."""
    assert agrees(admin_client, admin_user)[1]["leavers"] == 1
    monkeypatch.setattr(checks, "locked_transaction", _busy)
    lee = StaffAccount.objects.get(email="lee.long@nhs.net")
    manager_client.post(action(lee, "removal-requested"), {"on": TODAY.strftime("%d/%m/%Y")})
    assert StaffAccount.objects.get(pk=lee.pk).removal_requested_on == TODAY
    count, per_todo, rows = agrees(admin_client, admin_user)
    assert rows["lee.long@nhs.net"] == "waiting" and "leavers" not in per_todo


def test_an_import_counts_at_once_even_when_its_recheck_fails(
    admin_client, admin_user, homes, tmp_path, monkeypatch
):
    """NHSmail reports Lee deleted: nobody has to ask for his removal any more."""
    assert agrees(admin_client, admin_user)[1]["leavers"] == 1

    def fails(*args, **kwargs):
        raise RuntimeError("the recheck died")

    monkeypatch.setattr(checks, "run_check", fails)
    path = tmp_path / "accounts.csv"
    path.write_text("email,ods_code,status\nlee.long@nhs.net,VM4Q7,deleted\n")
    call_command("import_accounts", str(path), stdout=io.StringIO())
    count, per_todo, rows = agrees(admin_client, admin_user)
    assert "lee.long@nhs.net" not in rows and "leavers" not in per_todo and count == 2


def test_the_nights_check_counts_at_once(admin_client, admin_user, homes):
    assert agrees(admin_client, admin_user)[1]["to_chase"] == 2
    # Cat's 3 days become 63: at risk, to chase.
    call_command("check_inactivity", "--as-of", str(TODAY + timedelta(days=60)),
                 stdout=io.StringIO())  # fmt: skip
    count, per_todo, rows = agrees(admin_client, admin_user)
    assert rows["cat.cole@nhs.net"] == "to_chase" and per_todo["to_chase"] == 3


def test_an_edit_in_the_admin_counts_at_once(client, admin_user, midlands, homes):
    """A superuser deletes an account and moves Willow to Leicestershire: the national
    worklist and Leicestershire's change at once."""
    root = User.objects.create_superuser("root@example.org", PASSWORD)
    client.force_login(admin_user)
    assert agrees(client, admin_user)[0] == 3
    assert agrees(client, admin_user, region=midlands.pk)[0] == 2
    client.force_login(root)
    amy = StaffAccount.objects.get(email="amy.adams@nhs.net")
    url = reverse("admin:accounts_staffaccount_delete", args=[amy.pk])
    assert client.post(url, {"post": "yes"}).status_code == 302
    willow = StaffAccount.objects.get(email="wes.west@nhs.net").home
    url = reverse("admin:accounts_carehome_change", args=[willow.pk])
    fields = {"ods_code": willow.ods_code, "name": willow.name, "region": midlands.pk,
              "risk_rank": willow.risk_rank}  # fmt: skip
    response = client.post(url, fields)
    assert response.status_code == 302, response.context["adminform"].form.errors
    client.force_login(admin_user)
    count, per_todo, rows = agrees(client, admin_user)
    assert count == 2 and "amy.adams@nhs.net" not in rows
    count, per_todo, rows = agrees(client, admin_user, region=midlands.pk)
    assert count == 2 and "wes.west@nhs.net" in rows


def test_each_admin_counts_only_their_regions(client, admin_user, north, midlands, homes):
    """The national admin's counts are kept first; a regional admin's are their own, and a
    region they are given counts at once."""
    regional = User.objects.create_user("rita.region@example.org", PASSWORD, role="admin")
    regional.regions.add(midlands)
    client.force_login(admin_user)
    assert agrees(client, admin_user)[0] == 3
    client.force_login(regional)
    count, per_todo, rows = agrees(client, regional)
    assert count == 2 and "wes.west@nhs.net" not in rows
    regional.regions.add(north)
    count, per_todo, rows = agrees(client, regional)
    assert count == 3 and "wes.west@nhs.net" in rows


def test_the_mailboxes_to_call_about_change_at_once(admin_client, admin_user, homes, tmp_path):
    """Wes logs in again (a report says so): Willow's mailbox needs no call any more."""

    def mailboxes():
        page = admin_client.get(reverse("worklist")).context["mailboxes"]
        return page.paginator.count, [m["email"] for m in page.object_list]

    assert mailboxes() == (1, ["willow.court@nhs.net"])
    assert mailboxes() == (1, ["willow.court@nhs.net"])  # kept
    path = tmp_path / "accounts.csv"
    path.write_text(f"email,ods_code,last_activity\nwes.west@nhs.net,VN8P2,{TODAY}\n")
    call_command("import_accounts", str(path), stdout=io.StringIO())
    assert mailboxes() == (0, [])


def test_the_worklist_answers_when_the_cache_is_down(admin_client, admin_user, homes, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    response = admin_client.get(reverse("worklist"))
    assert response.status_code == 200
    assert response.context["people"].paginator.count == 3
    assert response.context["mailboxes"].paginator.count == 1


def _counts_run(queries) -> int:
    return sum('COUNT(*) AS "people"' in q["sql"] for q in queries.captured_queries)


def test_every_homes_counts_are_the_sum_of_each_regions(client, admin_user, homes):
    """Five more regions and a home without one: the first page counts them all in one
    statement; after a write in one region, the next counts that region alone."""
    for n in range(5):
        region = Region.objects.create(name=f"Region {n}")
        home = CareHome.objects.create(ods_code=f"AB{n}CD", name=f"Home {n}", region=region)
        make_account(home, f"person{n}@nhs.net", days_ago=70, as_of=TODAY)
    loose = CareHome.objects.create(ods_code="NOREG", name="A home of no region")
    make_account(loose, "nobody@nhs.net", days_ago=80, as_of=TODAY)
    run_check(TODAY)
    client.force_login(admin_user)
    with CaptureQueriesContext(connection) as queries:
        count, per_todo, rows = agrees(client, admin_user)
    assert count == 3 + 6 and _counts_run(queries) == 1
    assert {"person4@nhs.net", "nobody@nhs.net"} <= set(rows)
    # Removal asked for (set here by hand, then the home's recheck): a write in no region.
    StaffAccount.objects.filter(email="nobody@nhs.net").update(removal_requested_on=TODAY)
    run_check(TODAY, home=loose)
    with CaptureQueriesContext(connection) as queries:
        assert agrees(client, admin_user)[0] == count - 1
    assert _counts_run(queries) == 1  # that region alone
    with CaptureQueriesContext(connection) as queries:
        assert worklist(client)[0] == count - 1
    assert _counts_run(queries) == 0


def _admin_people(client, **params) -> tuple[dict[str, str], int]:
    response = client.get(reverse("worklist"), params)
    assert response.status_code == 200
    page = response.context["people"]
    return {p["email"]: p["todo"] for p in page.object_list}, page.paginator.count


def _home_form(home, region) -> dict:
    return {
        "ods_code": home.ods_code,
        "name": home.name,
        "registered_landline": home.registered_landline,
        "cqc_location_id": home.cqc_location_id,
        "region": region.pk if region else "",
        "risk_rank": home.risk_rank,
    }


def test_a_history_revert_in_the_admin_renews_the_worklist(client, midlands, north, homes):
    """simple_history's "Revert" in /admin/ saves with save_model only: it must renew the
    versions too, or a home reverted to its former region stays in the new region's kept
    homes, and that region's admin keeps seeing its people (found by a review)."""
    root = User.objects.create_superuser("root@example.org", PASSWORD)
    rita = User.objects.create_user("rita.region@example.org", PASSWORD, role="admin")
    rita.regions.add(midlands)
    willow = CareHome.objects.get(ods_code="VN8P2")
    admin = Client()
    admin.force_login(root)
    # Willow moves from Yorkshire to Leicestershire (an ordinary edit: it renews versions).
    url = reverse("admin:accounts_carehome_change", args=[willow.pk])
    assert admin.post(url, _home_form(willow, midlands)).status_code == 302
    regional = Client()
    regional.force_login(rita)
    rows, count = _admin_people(regional)
    assert "wes.west@nhs.net" in rows and count == 3  # Willow is hers now: kept
    # The superuser reverts Willow to its first version (Yorkshire).
    first = willow.history.order_by("history_id").first()
    url = reverse("admin:accounts_carehome_simple_history", args=[willow.pk, first.history_id])
    response = admin.post(url, _home_form(willow, north))
    assert response.status_code == 302, response.content[:2000]
    assert CareHome.objects.get(pk=willow.pk).region_id == north.pk
    # Rita may not open Willow any more...
    assert regional.get(reverse("home_detail", args=["VN8P2"])).status_code == 404
    # ...but her worklist still lists its people.
    rows, count = _admin_people(regional)
    assert "wes.west@nhs.net" not in rows, "a home of another region on Rita's worklist"
    assert count == 2


def test_a_history_revert_of_an_account_renews_the_counts(client, admin_user, homes):
    """The same door for an account: reverting Lee's removal request in /admin/ moves him
    from "waiting" back to "leavers" on the worklist at once."""
    root = User.objects.create_superuser("root@example.org", PASSWORD)
    lee = StaffAccount.objects.get(email="lee.long@nhs.net")
    admin = Client()
    admin.force_login(root)
    # A normal admin edit first (renews the versions): removal asked for today.
    url = reverse("admin:accounts_staffaccount_change", args=[lee.pk])
    form = {
        "email": lee.email,
        "display_name": lee.display_name,
        "home": lee.home_id,
        "reported_status": lee.reported_status,
        "first_recorded": lee.first_recorded.isoformat(),
        "last_activity_0": (TODAY - timedelta(days=10)).isoformat(),
        "last_activity_1": "12:00:00",
        "left_on": "",
        "attested_on": "",
        "removal_requested_on": TODAY.isoformat(),
        "links-TOTAL_FORMS": "0",
        "links-INITIAL_FORMS": "0",
        "links-MIN_NUM_FORMS": "0",
        "links-MAX_NUM_FORMS": "1000",
    }
    response = admin.post(url, form)
    assert response.status_code == 302, response.context["adminform"].form.errors
    client.force_login(admin_user)
    rows, _ = _admin_people(client)
    assert rows["lee.long@nhs.net"] == "waiting"
    first = lee.history.order_by("history_id").first()
    url = reverse("admin:accounts_staffaccount_simple_history", args=[lee.pk, first.history_id])
    response = admin.post(url, {**form, "removal_requested_on": ""})
    assert response.status_code == 302
    assert StaffAccount.objects.get(pk=lee.pk).removal_requested_on is None
    rows, _ = _admin_people(client)
    assert rows["lee.long@nhs.net"] == "leavers"
