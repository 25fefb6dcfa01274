import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.checks import run_check
from accounts.models import CareHome, SharedMailbox
from tests.conftest import TODAY, make_account

CHANGELISTS = [
    "accounts_region",
    "accounts_carehome",
    "accounts_sharedmailbox",
    "accounts_staffaccount",
    "accounts_mailboxlink",
    "accounts_user",
    "accounts_checkrun",
    "accounts_statechange",
    "accounts_importrecord",
]


def build(homes):
    for n in range(homes):
        home = CareHome.objects.create(ods_code=f"AD{n:03d}", name=f"Home {n}")
        box = SharedMailbox.objects.create(home=home, email=f"box{n}@nhs.net")
        make_account(home, f"a{n}@nhs.net", days_ago=n * 10, mailboxes=[box])
    run_check(TODAY)


def count_queries(client, url):
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("changelist", CHANGELISTS)
def test_changelist_query_count_is_constant(
    client, superuser, changelist, django_assert_max_num_queries
):
    client.force_login(superuser)
    url = reverse(f"admin:{changelist}_changelist")
    build(2)
    few = count_queries(client, url)
    build_more = [CareHome.objects.count() + n for n in range(12)]
    for n in build_more:
        home = CareHome.objects.create(ods_code=f"AE{n:03d}", name=f"More {n}")
        box = SharedMailbox.objects.create(home=home, email=f"more{n}@nhs.net")
        make_account(home, f"m{n}@nhs.net", days_ago=n, mailboxes=[box])
    run_check(TODAY)
    assert count_queries(client, url) == few


def test_run_check_now_queues_the_task(client, superuser, monkeypatch):
    queued = []
    monkeypatch.setattr("accounts.tasks.nightly_check.apply_async", lambda **kw: queued.append(kw))
    client.force_login(superuser)
    page = client.post(reverse("admin:accounts_checkrun_run_now"), follow=True)
    assert [(q["kwargs"], q["retry"]) for q in queued] == [({"trigger": "admin"}, False)]
    assert "The check has been queued" in page.content.decode()


def test_run_check_now_says_when_the_broker_is_down(client, superuser, monkeypatch):
    from kombu.exceptions import OperationalError

    def refuse(**kw):
        raise OperationalError("Error 111 connecting to 127.0.0.1:1. Connection refused.")

    monkeypatch.setattr("accounts.tasks.nightly_check.apply_async", refuse)
    client.force_login(superuser)
    page = client.post(reverse("admin:accounts_checkrun_run_now"), follow=True)
    assert "the task broker is not reachable" in page.content.decode()


def test_managers_cannot_open_the_admin(client, manager):
    client.force_login(manager)
    assert client.get("/admin/").status_code == 302


def test_staff_who_do_not_see_every_home_cannot_open_the_admin(client, manager, rosewood):
    """The admin lists every home's records: a manager made staff with view permissions is
    still sent to the admin sign-in, history views included."""
    from django.contrib.auth.models import Permission

    manager.is_staff = True
    manager.save()
    manager.user_permissions.add(*Permission.objects.filter(codename__startswith="view_"))
    client.force_login(manager)
    for url in [
        reverse("admin:accounts_staffaccount_changelist"),
        reverse("admin:accounts_carehome_history", args=[rosewood.pk]),
    ]:
        page = client.get(url)
        assert page.status_code == 302 and page["Location"].startswith("/admin/login/"), url


def test_events_are_listed_newest_first_by_their_id(client, superuser):
    """The events' changelist reads its page backwards from the primary key (the run's
    index is a BRIN index on PostgreSQL, which cannot order): the newest event first."""
    from accounts.models import StateChange

    build(2)
    run_check(TODAY.replace(day=1) if TODAY.day > 1 else TODAY)  # a second run's events
    client.force_login(superuser)
    page = client.get(reverse("admin:accounts_statechange_changelist"))
    assert page.status_code == 200
    shown = [change.pk for change in page.context["cl"].result_list]
    assert shown == sorted(StateChange.objects.values_list("pk", flat=True), reverse=True)
