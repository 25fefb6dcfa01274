"""A home's page costs the same whatever the home's size (issue 13, item 10)."""

import re
from datetime import timedelta

import pytest
from django.db.models import Q
from django.test import override_settings
from django.urls import resolve

from accounts import dashboard, prepared, rules, todos
from accounts.checks import run_check
from accounts.dashboard import HOME_PAGE_ACCOUNTS, LINKED_SHOWN
from accounts.imports.bulk import load
from accounts.models import MailboxLink, SharedMailbox, StaffAccount
from accounts.staffrows import ACTION_WORDS
from accounts.todos import TODOS
from tests.conftest import TODAY, make_account


def fill(home, mailbox, n):
    """n accounts, all linked to the mailbox, inactive for 0 to n-1 days."""
    accounts = [make_account(home, f"p{i:04d}@nhs.net", days_ago=i % 200) for i in range(n)]
    load(
        "accounts_mailboxlink",
        ["account_id", "mailbox_id"],
        [(a.pk, mailbox.pk) for a in accounts],
    )
    run_check(TODAY)


@pytest.mark.parametrize("accounts", [10, 200])
def test_the_home_page_costs_the_same_for_10_or_200_accounts(
    client, manager, rosewood, rosewood_mailbox, accounts, django_assert_max_num_queries
):
    fill(rosewood, rosewood_mailbox, accounts)
    client.force_login(manager)
    with django_assert_max_num_queries(22):
        page = client.get("/homes/VM4Q7/")
    body = page.content.decode()
    # Each person's actions are on their card (phones) and in the table (wider screens).
    assert body.count('href="/homes/VM4Q7/accounts/') <= 2 * 3 * HOME_PAGE_ACCOUNTS
    assert body.count('class="nhsuk-card portal-staff-card"') == min(accounts, HOME_PAGE_ACCOUNTS)
    assert body.count('<tr class="nhsuk-table__row">') == min(accounts, HOME_PAGE_ACCOUNTS)
    linked = re.search(r"People linked to it: (.*?)</p>", body, re.S).group(1)
    assert linked.count("(") == min(accounts, LINKED_SHOWN)
    if accounts > LINKED_SHOWN:
        assert f"and {accounts - LINKED_SHOWN} more" in linked


def test_page_two_lists_the_next_accounts_in_the_chosen_order(
    client, manager, rosewood, rosewood_mailbox
):
    fill(rosewood, rosewood_mailbox, 120)
    client.force_login(manager)
    first = client.get("/homes/VM4Q7/", {"sort": "email"}).content.decode()
    assert "Showing 1 to 50 of 120 accounts" in first
    assert 'aria-label="Page 2"' in first and 'rel="next"' in first
    assert "p0000@nhs.net" in first and "p0050@nhs.net" not in first
    second = client.get("/homes/VM4Q7/", {"sort": "email", "page": 2}).content.decode()
    assert "Showing 51 to 100 of 120 accounts" in second
    assert "p0050@nhs.net" in second and "p0049@nhs.net" not in second
    assert 'aria-current="page">2<' in second and 'rel="prev"' in second
    last = client.get("/homes/VM4Q7/", {"sort": "email", "page": 99}).content.decode()
    assert "Showing 101 to 120 of 120 accounts" in last
    assert client.get("/homes/VM4Q7/", {"page": "x%00"}).status_code == 200


@pytest.mark.parametrize(
    "sort, first, last",
    [
        ("days", "p0199@nhs.net", "p0000@nhs.net"),
        ("disable", "p0199@nhs.net", "p0000@nhs.net"),
        ("email", "p0000@nhs.net", "p0199@nhs.net"),
        ("name", "p0000@nhs.net", "p0199@nhs.net"),
    ],
)
def test_every_sort_is_done_by_the_database_across_pages(
    client, manager, rosewood, rosewood_mailbox, sort, first, last
):
    fill(rosewood, rosewood_mailbox, 200)
    client.force_login(manager)
    assert first in client.get("/homes/VM4Q7/", {"sort": sort}).content.decode()
    assert last in client.get("/homes/VM4Q7/", {"sort": sort, "page": 4}).content.decode()


def test_a_mailbox_with_nobody_linked_says_so(client, manager, rosewood, rosewood_mailbox):
    make_account(rosewood, "alone@nhs.net", days_ago=1)
    assert not MailboxLink.objects.exists() and StaffAccount.objects.count() == 1
    client.force_login(manager)
    assert "Nobody is linked to it." in client.get("/homes/VM4Q7/").content.decode()


@pytest.fixture
def every_todo(rosewood, rosewood_mailbox, willow):
    """Each home with someone on every to-do."""
    for home, box in ((rosewood, rosewood_mailbox), (willow, None)):
        code = home.ods_code.lower()
        box = box or SharedMailbox.objects.create(home=home, email=f"{code}.office@nhs.net")
        make_account(home, f"{code}.soon@nhs.net", days_ago=70, mailboxes=[box])
        nobody = SharedMailbox.objects.create(home=home, email=f"{code}.night@nhs.net")
        make_account(
            home, f"{code}.off@nhs.net", days_ago=200, status="disabled", mailboxes=[nobody]
        )
        make_account(home, f"{code}.leaver@nhs.net", days_ago=5, left_on=TODAY)
        for email, asked in ((f"{code}.asked@nhs.net", 10), (f"{code}.chase@nhs.net", 20)):
            make_account(home, email, days_ago=5, left_on=TODAY)
            StaffAccount.objects.filter(email=email).update(
                removal_requested_on=TODAY - timedelta(days=asked)
            )
    run_check(TODAY)


def test_the_prepared_to_do_query_gives_what_the_orm_gives(every_todo, rosewood, willow):
    for homes in ([rosewood], [willow], [rosewood, willow], [willow, rosewood]):
        ids = [home.pk for home in homes]
        expected = list(dashboard._first_todos(ids))  # the ORM's own evaluation
        assert {row[-2] for row in expected} == set(TODOS)
        assert prepared.run(dashboard._first_todos, ids, *todos.depends_on()) == expected


def test_a_change_of_setting_compiles_the_to_do_query_anew(every_todo, rosewood):
    def waiting_and_chased():
        summary = dashboard.summaries([rosewood])[0]
        return [a.email for a in summary.waiting], [a.email for a in summary.chase_removal]

    assert waiting_and_chased() == (["vm4q7.asked@nhs.net"], ["vm4q7.chase@nhs.net"])
    with override_settings(REMOVAL_CHASE_DAYS=7):
        assert waiting_and_chased() == ([], ["vm4q7.asked@nhs.net", "vm4q7.chase@nhs.net"])


@pytest.mark.django_db
def test_a_query_that_names_an_id_twice_is_not_reused():
    def twice(ids):
        return StaffAccount.objects.filter(Q(home__in=ids) | Q(pk__in=ids)).values_list("pk")

    with pytest.raises(ValueError, match="each id must be one parameter"):
        prepared.run(twice, [1])


def test_a_home_with_hundreds_of_shared_mailboxes_names_their_people(client, manager, rosewood):
    """SQLite takes at most 500 terms in one compound SELECT: the linked people are read
    400 mailboxes at a time."""
    boxes = SharedMailbox.objects.bulk_create(
        SharedMailbox(home=rosewood, email=f"m{n:03d}@nhs.net") for n in range(501)
    )
    make_account(rosewood, "first@nhs.net", days_ago=1, mailboxes=[boxes[0], boxes[-1]])
    client.force_login(manager)
    body = client.get("/homes/VM4Q7/").content.decode()
    assert body.count("People linked to it: First (") == 2
    assert body.count("Nobody is linked to it.") == 499


def test_the_to_do_query_is_compiled_for_the_date_it_is_kept_under(rosewood, monkeypatch):
    """Midnight passing between the key and the compile must not keep tomorrow's SQL under
    today's key: a removal asked for 13 days ago (home never checked) is waiting today and
    to be chased tomorrow."""
    asked = make_account(rosewood, "asked@nhs.net", days_ago=5, left_on=TODAY)
    StaffAccount.objects.filter(pk=asked.pk).update(
        state="left", removal_requested_on=TODAY - timedelta(days=13)
    )
    prepared._compiled.cache_clear()
    days = iter([TODAY])  # the key reads today; every later read is tomorrow
    monkeypatch.setattr(rules, "london_today", lambda: next(days, TODAY + timedelta(days=1)))
    with override_settings(REMOVAL_CHASE_DAYS=14):
        summary = dashboard.summaries([rosewood])[0]
    assert [a.email for a in summary.waiting] == ["asked@nhs.net"]
    assert summary.chase_removal == []


def test_every_action_link_opens_that_persons_action(client, manager, rosewood, rosewood_mailbox):
    """The links are built from one reverse() per action (staffrows._action_url)."""
    fill(rosewood, rosewood_mailbox, 30)
    StaffAccount.objects.filter(email="p0003@nhs.net").update(state="left")
    client.force_login(manager)
    body = client.get("/homes/VM4Q7/").content.decode()
    hrefs = set(re.findall(r'href="(/homes/VM4Q7/accounts/[^"]+)"', body))
    ids = dict(StaffAccount.objects.values_list("pk", "email"))
    seen = set()
    for href in hrefs:
        match = resolve(href)
        assert match.url_name == "account_action" and match.kwargs["ods_code"] == "VM4Q7"
        assert match.kwargs["pk"] in ids and match.kwargs["action"] in ACTION_WORDS
        seen.add((ids[match.kwargs["pk"]], match.kwargs["action"]))
    assert ("p0003@nhs.net", "removal-requested") in seen
    assert {("p0004@nhs.net", slug) for slug in ("seen-log-in", "left")} <= seen
