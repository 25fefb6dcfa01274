import uuid
from datetime import date, datetime, time, timedelta

import pytest

from accounts.models import CareHome, MailboxLink, Region, SharedMailbox, StaffAccount, User
from accounts.rules import LONDON

PASSWORD = "a-long-test-password-42"
TODAY = date(2026, 6, 15)


def at_london(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=LONDON)


def make_account(
    home, email, *, days_ago=None, status="active", left_on=None, mailboxes=(), as_of=TODAY
):
    account = StaffAccount.objects.create(
        home=home,
        email=email,
        display_name=email.split("@")[0].replace(".", " ").title(),
        reported_status=status,
        left_on=left_on,
        first_recorded=as_of - timedelta(days=365),
        last_activity=None if days_ago is None else at_london(as_of - timedelta(days=days_ago)),
    )
    for mailbox in mailboxes:
        MailboxLink.objects.create(account=account, mailbox=mailbox)
    return account


def api_users(home) -> dict:
    """The API's three readers: a manager of `home`, an admin of its region and an admin
    of every region."""
    manager = User.objects.create_user("manager.a@example.org", PASSWORD)
    manager.homes.add(home)
    region_admin = User.objects.create_user("admin.1@example.org", PASSWORD, role="admin")
    region_admin.regions.add(home.region)
    national = User.objects.create_user("national@example.org", PASSWORD, role="admin")
    return {"manager": manager, "region_admin": region_admin, "national": national}


def check_commits_at_first_version_read(monkeypatch, later: date) -> None:
    """The first read of a home's versions (worklistcounts.versions_of_home) lets a national
    check as of `later` commit just before it: after the page has read the home, every
    region is renewed and the home's as_of moves. Every later read is the real one."""
    from accounts import worklistcounts
    from accounts.checks import run_check

    real = worklistcounts.versions_of_home
    calls = []

    def the_nights_check_commits_meanwhile(home):
        if not calls:
            calls.append(home)
            run_check(later)
        return real(home)

    monkeypatch.setattr(worklistcounts, "versions_of_home", the_nights_check_commits_meanwhile)


@pytest.fixture
def midlands(db):
    return Region.objects.create(name="Leicestershire")


@pytest.fixture
def north(db):
    return Region.objects.create(name="Yorkshire")


@pytest.fixture
def rosewood(midlands):
    return CareHome.objects.create(
        ods_code="VM4Q7",
        name="Rosewood Care Home",
        registered_landline="0116 496 0000",
        region=midlands,
    )


@pytest.fixture
def willow(north):
    return CareHome.objects.create(ods_code="VN8P2", name="Willow Court", region=north)


@pytest.fixture
def rosewood_mailbox(rosewood):
    return SharedMailbox.objects.create(home=rosewood, email="rosewood.carehome@nhs.net")


@pytest.fixture
def willow_mailbox(willow):
    return SharedMailbox.objects.create(home=willow, email="willow.court@nhs.net")


@pytest.fixture
def manager(rosewood):
    user = User.objects.create_user("jane.manager@example.org", PASSWORD, role=User.Role.MANAGER)
    user.homes.add(rosewood)
    return user


@pytest.fixture
def admin_user(db):
    return User.objects.create_user("ravi.admin@example.org", PASSWORD, role=User.Role.ADMIN)


@pytest.fixture
def superuser(db):
    return User.objects.create_superuser("root@example.org", PASSWORD)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def fresh_cache(settings):
    """Each test's throttle counts start from zero, whatever cache the run uses (a prefix of
    its own, so Redis keeps other runs' keys and the broker's queues)."""
    settings.CACHES = {
        name: {**conf, "KEY_PREFIX": uuid.uuid4().hex} for name, conf in settings.CACHES.items()
    }


@pytest.fixture
def worker_runs_tasks():
    """Queued Celery tasks run at once, as if a worker had taken them."""
    from carehome_portal.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before
