"""A home's recorded changes: its own accounts' and mailboxes', newest first, never another
home's (PostgreSQL names the accounts through an array so a large home stays cheap)."""

from datetime import timedelta

import pytest

from accounts.checks import run_check
from accounts.dashboard import home_history
from accounts.rules import london_today
from tests.conftest import make_account

TODAY = london_today()


@pytest.mark.django_db
def test_history_holds_only_the_homes_own_changes_newest_first(rosewood, willow):
    for n in range(3):
        make_account(rosewood, f"rose{n}@nhs.net", days_ago=95, as_of=TODAY)
        make_account(willow, f"will{n}@nhs.net", days_ago=95, as_of=TODAY)
    run_check(TODAY)
    make_account(rosewood, "late@nhs.net", days_ago=70, as_of=TODAY)
    run_check(TODAY + timedelta(days=1))
    changes = home_history(rosewood, list(rosewood.mailboxes.all()))
    emails = [change.email for change in changes if change.account_id]
    assert emails and all(email.startswith(("rose", "late")) for email in emails)
    assert emails[0] == "late@nhs.net"  # the newest run first
    assert set(emails) == {"late@nhs.net", "rose0@nhs.net", "rose1@nhs.net", "rose2@nhs.net"}
    assert len(home_history(rosewood, [], limit=2)) == 2
