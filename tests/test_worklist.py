"""The admin's weekly worklist: every home they may see, the same to-dos as the cards."""

import csv
import io
import random
import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.core.paginator import Paginator
from django.db import connection, connections
from django.db.models import Case, F, IntegerField, Value, When
from django.urls import reverse

from accounts import dashboard, todos, worklist
from accounts.checks import run_check
from accounts.models import CareHome, Region, SharedMailbox, StaffAccount
from accounts.scoping import homes_for
from tests.conftest import TODAY, make_account


@pytest.fixture
def week(rosewood, rosewood_mailbox, willow, willow_mailbox):
    """Rosewood: two to chase, a leaver to remove, one removal asked for 20 days ago and one
    2 days ago; Willow: one to chase and an orphaned mailbox."""
    make_account(rosewood, "amy.adams@nhs.net", days_ago=75, mailboxes=[rosewood_mailbox])
    make_account(rosewood, "bob.brown@nhs.net", days_ago=120, mailboxes=[rosewood_mailbox])
    make_account(rosewood, "cat.cole@nhs.net", days_ago=3, mailboxes=[rosewood_mailbox])
    make_account(rosewood, "lee.long@nhs.net", days_ago=10, status="leaver")
    for email, days in (("ria.rose@nhs.net", 20), ("sam.soon@nhs.net", 2)):
        account = make_account(rosewood, email, days_ago=10, status="leaver")
        StaffAccount.objects.filter(pk=account.pk).update(
            removal_requested_on=TODAY - timedelta(days=days)
        )
    make_account(willow, "wes.west@nhs.net", days_ago=100)
    run_check(TODAY)


@pytest.fixture
def regional_admin(admin_user, midlands):
    admin_user.regions.add(midlands)
    return admin_user


def test_worklist_lists_whom_to_chase_and_remove_and_which_mailboxes_to_call_about(
    client, admin_user, week
):
    client.force_login(admin_user)
    body = client.get(reverse("worklist")).content.decode()
    # To chase, soonest disabled first: name, home, ODS code, log in by.
    assert body.index("Bob Brown") < body.index("Wes West") < body.index("Amy Adams")
    assert "Rosewood Care Home" in body and "VM4Q7" in body and "VN8P2" in body
    assert (TODAY - timedelta(days=30)).strftime("%-d %B %Y") in body  # Bob's log in by
    # Leavers: to remove, removal to chase (20 days), and waiting (2 days).
    assert "Lee Long" in body and "Ask the helpdesk to remove them" in body
    assert "Ria Rose" in body and "20 days (since" in body
    assert "Sam Soon" in body and "2 days (since" in body
    assert "Cat Cole" not in body  # active: nothing to do
    # Willow's mailbox has nobody: the helpdesk call, with what to have to hand.
    assert "willow.court@nhs.net" in body and "No linked account" in body
    assert "rosewood.carehome@nhs.net" not in body  # Amy keeps it open
    assert 'href="tel:03332001133"' in body


def test_worklist_rows_are_the_cards_to_dos(client, admin_user, week):
    """The same rule as the home cards (todos.py): what each home must do, counted both ways."""
    listed = Counter((r["ods_code"], r["todo"]) for r in worklist.rows(admin_user))
    cards = Counter()
    for summary in dashboard.summaries(homes_for(admin_user)):
        for todo, n in summary.totals.items():
            if n:
                cards[(summary.home.ods_code, todo)] = n
    assert listed == cards
    assert listed[("VM4Q7", "chase_removal")] == 1 and listed[("VM4Q7", "waiting")] == 1


def test_a_regional_admin_sees_only_their_regions(client, regional_admin, north, week):
    client.force_login(regional_admin)
    for params in ({}, {"region": north.pk}):  # another region's id is not theirs to pick
        body = client.get(reverse("worklist"), params).content.decode()
        assert "Bob Brown" in body and "Wes West" not in body and "willow.court" not in body
        assert "Yorkshire" not in body


def test_filtering_by_region(client, admin_user, north, midlands, week):
    client.force_login(admin_user)
    body = client.get(reverse("worklist"), {"region": north.pk}).content.decode()
    assert "Wes West" in body and "willow.court@nhs.net" in body and "Bob Brown" not in body
    body = client.get(reverse("worklist"), {"region": midlands.pk}).content.decode()
    assert "Bob Brown" in body and "Wes West" not in body
    assert [r["email"] for r in worklist.rows(admin_user, north)] == ["wes.west@nhs.net"]


def test_worklist_is_for_admins_only(client, manager, week):
    assert client.get(reverse("worklist")).status_code == 302
    assert client.get(reverse("worklist_csv")).status_code == 302
    client.force_login(manager)
    assert client.get(reverse("worklist")).status_code == 404
    assert client.get(reverse("worklist_csv")).status_code == 404


def test_the_admin_dashboard_and_menu_link_to_the_worklist(client, admin_user, manager):
    client.force_login(admin_user)
    body = client.get(reverse("dashboard")).content.decode()
    assert body.count('href="/worklist/"') == 2  # the menu and the dashboard
    assert 'href="/import-records/"' in body
    client.force_login(manager)
    assert 'href="/worklist/"' not in client.get(reverse("dashboard")).content.decode()


def _homes_with_work(n: int, region):
    for i in range(n):
        home = CareHome.objects.create(ods_code=f"Q{i:04d}", name=f"Home {i}", region=region)
        mailbox = SharedMailbox.objects.create(home=home, email=f"home{i}@nhs.net")
        make_account(home, f"late{i}@nhs.net", days_ago=80 + i % 30, mailboxes=[mailbox])
        make_account(home, f"gone{i}@nhs.net", days_ago=10, status="leaver")
        SharedMailbox.objects.create(home=home, email=f"empty{i}@nhs.net")
    run_check(TODAY)


@pytest.mark.parametrize("homes", [2, 40])
def test_worklist_costs_the_same_queries_for_any_number_of_homes(
    client, admin_user, midlands, homes, django_assert_num_queries
):
    _homes_with_work(homes, midlands)
    client.force_login(admin_user)
    # session, user, whether they see every home, the region picked, the version of the
    # region's to-dos, its homes, people (counted per to-do and date, then a page: here the
    # last people to chase and the first leavers), mailboxes (count, page), the last run,
    # the region choices, saving the session (3)
    with django_assert_num_queries(13):
        response = client.get(reverse("worklist"), {"region": midlands.pk})
    assert response.status_code == 200
    assert response.context["people"].paginator.count == 2 * homes
    # The homes, the counts, the page below the region's form and the last run are kept
    # until a write changes them: the session, the user, whether they see every home, the
    # region picked, its version, the region choices.
    with django_assert_num_queries(6):
        response = client.get(reverse("worklist"), {"region": midlands.pk})
    assert response.context["people"].paginator.count == 2 * homes


def test_worklist_pages_people_and_mailboxes_apart(client, admin_user, midlands):
    _homes_with_work(30, midlands)  # 60 people, 30 mailboxes
    client.force_login(admin_user)
    first = client.get(reverse("worklist"), {"region": midlands.pk})
    assert len(first.context["people"].object_list) == views_page()
    assert f"region={midlands.pk}&amp;page=2" in first.content.decode()
    second = client.get(reverse("worklist"), {"region": midlands.pk, "page": 2})
    assert len(second.context["people"].object_list) == 60 - views_page()
    assert second.context["mailboxes"].number == 1


def views_page() -> int:
    from accounts.views import WORKLIST_PAGE

    return WORKLIST_PAGE


def test_worklist_download_opens_in_excel(client, admin_user, north, week):
    StaffAccount.objects.filter(email="wes.west@nhs.net").update(display_name="=cmd|' /c calc'!A0")
    client.force_login(admin_user)
    response = client.get(reverse("worklist_csv"), {"region": north.pk})
    assert response["Content-Disposition"] == (
        f'attachment; filename="worklist-as-of-{TODAY:%Y-%m-%d}.csv"'
    )
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeffWhat to do,Name,Email address,Home,ODS code,State or risk,")
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))
    assert [(r["Email address"], r["State or risk"]) for r in rows] == [
        ("wes.west@nhs.net", "Inactive"),
        ("willow.court@nhs.net", "No linked account"),
    ]
    assert rows[0]["Name"] == "'=cmd|' /c calc'!A0"
    assert rows[0]["Log in by"] == f"{TODAY - timedelta(days=10):%d/%m/%Y}"
    assert "0333 200 1133" in rows[1]["Helpdesk call"] and "VN8P2" in rows[1]["Helpdesk call"]


@pytest.mark.parametrize("url", ["/worklist/", "/worklist.csv", "/dashboard/"])
def test_a_region_that_is_no_number_is_ignored(client, admin_user, url):
    client.force_login(admin_user)
    assert client.get(f"{url}?region=%C2%B2").status_code == 200


def _plainly_ordered(region=None):
    """The worklist's people as one ORM query orders them: every to-do's place, then the
    log-in date, the removal date, the ODS code and the email."""
    place = Case(
        *(When(todo=name, then=Value(n)) for n, name in enumerate(worklist.TODO_WORDS)),
        output_field=IntegerField(),
    )
    found = StaffAccount.objects.filter(todos.attention())
    if region is not None:
        found = found.filter(home__region=region)
    return list(
        found.annotate(todo=todos.todo(), place=place)
        .order_by("place", F("disable_date").asc(nulls_last=True),
                  F("removal_requested_on").asc(nulls_last=True), "home__ods_code", "email")
        .values_list("email", "todo")
    )  # fmt: skip


def _random_homes(seed: int):
    rng = random.Random(seed)
    regions = [Region.objects.create(name=f"Region {n}") for n in range(3)]
    for h in range(12):
        home = CareHome.objects.create(
            ods_code=f"R{rng.randrange(10_000):04d}{h:02d}"[-6:], name=f"Home {h}",
            region=regions[h % 3],
        )  # fmt: skip
        boxes = [SharedMailbox.objects.create(home=home, email=f"box{h}.{n}@nhs.net")
                 for n in range(rng.randint(0, 2))]  # fmt: skip
        for n in range(rng.randint(0, 25)):
            account = make_account(
                home, f"p{rng.randrange(10**6):06d}.{h}.{n}@nhs.net",
                days_ago=rng.choice([None, *range(0, 200, 7)]),
                status=rng.choice(["active"] * 5 + ["disabled", "deleted", "leaver"]),
                left_on=rng.choice([None] * 6 + [TODAY - timedelta(days=rng.randint(1, 90))]),
                mailboxes=rng.sample(boxes, rng.randint(0, len(boxes))),
            )  # fmt: skip
            if rng.random() < 0.3:
                StaffAccount.objects.filter(pk=account.pk).update(
                    removal_requested_on=TODAY - timedelta(days=rng.randint(0, 40))
                )
    run_check(TODAY)
    return regions


@pytest.mark.parametrize("seed", [1, 2])
def test_pages_hold_the_same_people_in_the_same_order_as_one_ordered_query(admin_user, seed):
    regions = _random_homes(seed)
    for region in (None, *regions):
        expected = _plainly_ordered(region)
        people = worklist.rows(admin_user, region)
        assert len({todo for _, todo in expected}) >= 3  # the data covers several to-dos
        assert people.count() == len(expected)
        for size in (1, 7, 50):
            pages = Paginator(people, size)
            paged = [
                (p["email"], p["todo"]) for n in pages.page_range for p in pages.page(n).object_list
            ]
            assert paged == expected, (region, size)
        assert [(p["email"], p["todo"]) for p in people] == expected
        assert [(p["email"], p["todo"]) for p in people[5:23]] == expected[5:23]


@pytest.mark.django_db(transaction=True)
def test_a_download_is_one_snapshot_while_the_check_commits(admin_user, rosewood):
    """The download reads to-do after to-do; a person moved to another to-do by a commit
    made mid-download is listed once (PostgreSQL: one REPEATABLE READ snapshot)."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's readers hold writers off instead")
    for n in range(3):
        make_account(rosewood, f"p{n}@nhs.net", days_ago=100)
    run_check(TODAY)
    people = iter(worklist.rows(admin_user))
    first = next(people)

    committed = []

    def leave():  # another connection, as the nightly check would be
        StaffAccount.objects.filter(email="p2@nhs.net").update(
            state="left", reported_status="leaver"
        )
        committed.append(StaffAccount.objects.get(email="p2@nhs.net").state)
        connections.close_all()

    try:
        thread = threading.Thread(target=leave)
        thread.start()
        thread.join()
        emails = [first["email"], *(person["email"] for person in people)]
    finally:
        people.close()
    assert committed == ["left"]
    assert sorted(emails) == ["p0@nhs.net", "p1@nhs.net", "p2@nhs.net"], emails


def test_the_worklist_count_leaves_the_callers_settings_alone(admin_user, rosewood):
    """`SET LOCAL jit = off` is sent only where it ends with its own statement."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's JIT")
    with connection.cursor() as cursor:  # the test runs in one transaction
        cursor.execute("SELECT current_setting('jit')")
        before = cursor.fetchone()[0]
        worklist.rows(admin_user).count()
        cursor.execute("SELECT current_setting('jit')")
        assert cursor.fetchone()[0] == before
