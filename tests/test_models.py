import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.models import CareHome, MailboxLink, SharedMailbox, StaffAccount, User
from accounts.rules import is_valid_ods_code, normalise_ods_code
from tests.conftest import at_london


@pytest.mark.parametrize(
    "raw, stored", [("  vm4q7 ", "VM4Q7"), ("abc", "ABC"), ("a1b2c3", "A1B2C3")]
)
def test_ods_code_is_trimmed_and_upper_cased_on_save(db, raw, stored):
    home = CareHome.objects.create(ods_code=raw, name="Oak House")
    home.refresh_from_db()
    assert home.ods_code == stored


@pytest.mark.parametrize("bad", ["AB", "ABCDEFG", "AB-12", "", "A B1"])
def test_invalid_ods_code_is_refused_and_nothing_written(db, bad):
    with pytest.raises(ValidationError, match="not a valid ODS code"):
        CareHome.objects.create(ods_code=bad, name="Oak House")
    assert CareHome.objects.count() == 0


def test_ods_rule_pure():
    assert is_valid_ods_code(normalise_ods_code(" x1y2 "))
    assert not is_valid_ods_code("x1y2")


def test_emails_are_stored_lower_case(rosewood):
    mailbox = SharedMailbox.objects.create(home=rosewood, email=" Rosewood.Home@NHS.net ")
    account = StaffAccount.objects.create(home=rosewood, email="Jo.Bloggs@NHS.NET")
    user = User.objects.create_user("Manager@Example.ORG", "a-long-test-password-42")
    assert (mailbox.email, account.email, user.email) == (
        "rosewood.home@nhs.net",
        "jo.bloggs@nhs.net",
        "manager@example.org",
    )


def test_database_refuses_mixed_case_email_written_around_the_model(rosewood):
    with pytest.raises(IntegrityError), transaction.atomic():
        StaffAccount.objects.bulk_create([StaffAccount(home=rosewood, email="Mixed@NHS.net")])


def test_duplicate_email_differing_only_in_case_is_refused(rosewood):
    StaffAccount.objects.create(home=rosewood, email="jo@nhs.net")
    with pytest.raises(IntegrityError), transaction.atomic():
        StaffAccount.objects.create(home=rosewood, email="JO@nhs.net")


def test_last_activity_date_is_the_london_date(rosewood):
    # 23:30 on 1 July in London is 22:30 UTC: the London date is the 1st either way;
    # 00:30 on 2 July in London is 23:30 UTC on the 1st: the London date is the 2nd.
    from datetime import UTC, date, datetime

    account = StaffAccount.objects.create(
        home=rosewood, email="late@nhs.net", last_activity=datetime(2026, 7, 1, 23, 30, tzinfo=UTC)
    )
    assert account.last_activity_date == date(2026, 7, 2)
    account.last_activity = at_london(date(2026, 7, 1), hour=23)
    account.save()
    assert account.last_activity_date == date(2026, 7, 1)


def test_account_links_only_to_its_own_homes_mailbox(rosewood, willow_mailbox):
    account = StaffAccount.objects.create(home=rosewood, email="jo@nhs.net")
    with pytest.raises(ValidationError, match="its own home"):
        MailboxLink.objects.create(account=account, mailbox=willow_mailbox)
    assert MailboxLink.objects.count() == 0
