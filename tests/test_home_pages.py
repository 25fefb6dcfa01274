"""A home's page costs the same whatever the home's size (issue 13, item 10)."""

import re

import pytest

from accounts.checks import run_check
from accounts.dashboard import HOME_PAGE_ACCOUNTS, LINKED_SHOWN
from accounts.imports.bulk import load
from accounts.models import MailboxLink, StaffAccount
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
