"""The API's pages kept until a write (api/views.py, ApiView.kept), as the HTML pages are
(test_kept_pages.py): a kept page is byte for byte the page rendered anew, headers included;
every write door renews it at once; each scope, host, media type and query keeps its own;
and the token, the throttle, the filters and the cursor are checked on every request."""

import io
from datetime import timedelta

import pytest
import time_machine
from django.core.cache import cache, caches
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts import worklistcounts
from accounts.checks import run_check
from accounts.models import CareHome, CheckRun, StaffAccount, User
from api import tokens
from tests.conftest import (
    TODAY,
    api_users,
    at_london,
    check_commits_at_first_version_read,
    make_account,
)

NOW = at_london(TODAY, 12)
HOME_A, HOME_B = "VM4Q7", "VN8P2"
CLIENT = Client()  # one for every call: making a client loads the middleware again


@pytest.fixture(autouse=True)
def frozen():
    """Frozen, so that the responses' Expires headers agree to the second."""
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def world(db, rosewood, willow, rosewood_mailbox, willow_mailbox):
    """Rosewood (Leicestershire): Amy at 5 days, Ali at 70, both on its mailbox. Willow
    (Yorkshire): Bob at 100 days. A token each for Rosewood's manager, Leicestershire's
    admin and an admin of every region."""
    make_account(rosewood, "amy.active@nhs.net", days_ago=5, mailboxes=[rosewood_mailbox])
    make_account(rosewood, "ali.risky@nhs.net", days_ago=70, mailboxes=[rosewood_mailbox])
    make_account(willow, "bob.willow@nhs.net", days_ago=100, mailboxes=[willow_mailbox])
    run_check(TODAY)
    users = api_users(rosewood)
    secrets = {
        name: tokens.issue(user, name="t", days=30, actor=user)[1] for name, user in users.items()
    }
    return {**secrets, "users": users}


def get(url, token, **headers):
    return CLIENT.get(url, HTTP_AUTHORIZATION=f"Bearer {token}", **headers)


def counted(url, token, **headers):
    with CaptureQueriesContext(connection) as queries:
        response = get(url, token, **headers)
    return response, len(queries)


def emails(url, token) -> set[str]:
    response = get(url, token)
    assert response.status_code == 200
    return {row["email"] for row in response.json()["results"]}


def answer(response) -> tuple:
    """What a client receives: status, headers (but the request's own id) and body."""
    headers = {k: v for k, v in response.items() if k != "X-Request-ID"}
    return response.status_code, headers, response.content


KEPT = [
    ("/api/v1/homes/", {}),
    ("/api/v1/homes/?worst_risk=at_risk&region=Leicestershire", {}),
    ("/api/v1/homes/?format=csv", {}),
    ("/api/v1/accounts/?page_size=1", {}),
    ("/api/v1/accounts/?state=at_risk&region=Leicestershire", {}),
    ("/api/v1/accounts/", {"HTTP_ACCEPT": "application/json; indent=2"}),
    ("/api/v1/accounts/", {"HTTP_ACCEPT": "text/csv"}),
    ("/api/v1/mailboxes/?page_size=1", {}),
    ("/api/v1/worklist/?page_size=1", {}),
    (f"/api/v1/homes/{HOME_A}/", {}),
    (f"/api/v1/homes/{HOME_A.lower()}/", {"HTTP_ACCEPT": "application/json; indent=4"}),
]


@pytest.mark.parametrize("url, headers", KEPT)
@pytest.mark.parametrize("who", ["national", "region_admin"])
def test_a_kept_page_is_the_page_rendered_anew(world, url, headers, who):
    """Each page (and the pages its `next` leads to) twice: the second is read from the
    cache, and says and sends exactly what the first did."""
    token = world[who]
    while url:
        fresh, queries = counted(url, token, **headers)
        kept, kept_queries = counted(url, token, **headers)
        assert fresh.status_code == 200, url
        assert kept_queries < queries, f"{url} was not kept"
        assert answer(kept) == answer(fresh), url
        is_json = fresh["Content-Type"].startswith("application/json")
        url = fresh.json().get("next") if is_json else None


def test_a_kept_page_answers_as_the_portal_session_too(world):
    session = Client()
    session.force_login(world["users"]["national"])
    first = session.get("/api/v1/accounts/")
    assert answer(session.get("/api/v1/accounts/")) == answer(first)
    assert "Cookie" in first["Vary"]  # the session was read: said on both


def test_a_kept_page_costs_its_token_its_versions_and_its_last_check(world):
    get("/api/v1/accounts/?page_size=1000", world["national"])
    _, queries = counted("/api/v1/accounts/?page_size=1000", world["national"])
    assert queries == 3  # the token, whether the admin has regions, the versions
    get(f"/api/v1/homes/{HOME_A}/", world["manager"])
    _, queries = counted(f"/api/v1/homes/{HOME_A}/", world["manager"])
    assert queries == 3  # the token, the home (scoped to the user), its region's version


def test_pages_are_kept_a_day(world, monkeypatch):
    timeouts = []
    backend = type(caches["default"])
    real_set = backend.set

    def recording_set(self, key, value, timeout=None, **kwargs):
        if isinstance(value, bytes):
            timeouts.append(timeout)
        return real_set(self, key, value, timeout, **kwargs)

    monkeypatch.setattr(backend, "set", recording_set)
    get("/api/v1/accounts/", world["national"])
    get(f"/api/v1/homes/{HOME_A}/", world["national"])
    assert timeouts == [worklistcounts.PAGE_SECONDS] * 2


# Scopes: an entry is the versions of the regions a user's homes make up (every one for an
# admin of every region); a manager's homes are not whole regions, so their lists are not
# kept. One home is kept for whoever may see it, after the scoped lookup.


def test_each_scope_keeps_its_own_pages(world):
    url = "/api/v1/accounts/"
    everyone = {"amy.active@nhs.net", "ali.risky@nhs.net", "bob.willow@nhs.net"}
    rosewoods = everyone - {"bob.willow@nhs.net"}
    for _ in range(2):  # the second round reads what the first kept
        assert emails(url, world["national"]) == everyone
        assert emails(url, world["region_admin"]) == rosewoods
        assert emails(url, world["manager"]) == rosewoods
    # A write through no door (renewing no version) shows who is given a kept page.
    StaffAccount.objects.filter(email="amy.active@nhs.net").update(email="amy.moved@nhs.net")
    assert "amy.moved@nhs.net" in emails(url, world["manager"])  # computed every time
    assert "amy.active@nhs.net" in emails(url, world["region_admin"])
    assert "amy.active@nhs.net" in emails(url, world["national"])


def test_a_scope_that_changes_is_a_new_entry(world, willow, midlands):
    region_admin = world["users"]["region_admin"]
    assert emails("/api/v1/accounts/", world["region_admin"]) == {
        "amy.active@nhs.net",
        "ali.risky@nhs.net",
    }
    region_admin.regions.add(willow.region)
    assert "bob.willow@nhs.net" in emails("/api/v1/accounts/", world["region_admin"])
    region_admin.regions.remove(willow.region, midlands)  # no region: every home
    assert len(emails("/api/v1/accounts/", world["region_admin"])) == 3
    region_admin.role = User.Role.MANAGER
    region_admin.save()
    assert get("/api/v1/accounts/", world["region_admin"]).json()["results"] == []


def test_one_home_kept_for_one_user_is_refused_to_those_who_may_not_see_it(world):
    url = f"/api/v1/homes/{HOME_B}/"
    assert get(url, world["national"]).status_code == 200
    assert get(url, world["national"]).status_code == 200  # kept
    assert get(url, world["region_admin"]).status_code == 404
    assert get(url, world["manager"]).status_code == 404


def test_hosts_schemes_and_queries_keep_their_own_links(world, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    url = "/api/v1/accounts/?page_size=1"
    links = set()
    for _ in range(2):
        for headers in [{}, {"HTTP_HOST": "localhost"}, {"HTTP_X_FORWARDED_PROTO": "https"}]:
            links.add(get(url, world["national"], **headers).json()["next"].split("?")[0])
    hosts = {link.split("/api/")[0] for link in links}
    assert hosts == {"http://testserver", "http://localhost", "https://testserver:80"}
    assert len(get("/api/v1/accounts/?page_size=2", world["national"]).json()["results"]) == 2
    compact = get("/api/v1/accounts/", world["national"]).content
    indented = get("/api/v1/accounts/", world["national"], HTTP_ACCEPT="application/json; indent=2")
    assert b"\n" not in compact and b'\n  "as_of"' in indented.content
    as_csv = get("/api/v1/accounts/", world["national"], HTTP_ACCEPT="text/csv")
    assert as_csv.content.startswith(b"ods_code,email,")


def test_a_made_up_parameter_is_answered_anew_not_kept(world):
    """Each would keep another copy of the page: such a query is computed every time."""
    for url in ["/api/v1/accounts/?page_size=1000&x=1", f"/api/v1/homes/{HOME_A}/?x=1"]:
        first, queries = counted(url, world["national"])
        again, queries_again = counted(url, world["national"])
        assert answer(again) == answer(first) and queries_again == queries > 3, url
    get("/api/v1/accounts/?page_size=1000", world["national"])
    assert counted("/api/v1/accounts/?page_size=1000", world["national"])[1] == 3


# What is checked on every request, kept page or not.


def test_a_revoked_or_expired_token_is_refused_on_a_kept_page(world):
    url = "/api/v1/accounts/"
    national = world["users"]["national"]
    token = national.api_tokens.get()
    assert get(url, world["national"]).status_code == 200  # kept from here on
    tokens.revoke(token, actor=national)
    refused = get(url, world["national"])
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    short = tokens.issue(national, name="short", days=1, actor=national)[1]
    assert get(url, short).status_code == 200
    with time_machine.travel(NOW + timedelta(days=2), tick=False):
        assert get(url, short).status_code == 401
    national.is_active = False
    national.save()
    assert get(f"/api/v1/homes/{HOME_A}/", short).status_code == 401


def test_throttled_bad_filters_and_bad_cursors_on_kept_pages(world, settings):
    token = world["national"]
    for _ in range(2):
        bad = get("/api/v1/accounts/?state=nope", token)
        assert bad.status_code == 400 and "state" in bad.json()
        assert get("/api/v1/accounts/?cursor=zzz", token).status_code == 404
    settings.API_THROTTLE_RATE = "2/minute"
    cache.clear()  # the throttle's counts, and the kept pages
    codes = [get("/api/v1/homes/", token).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


# Every write door renews a kept page at once: the lists and one home.


def rows(url, token) -> dict[str, dict]:
    body = get(url, token).json()
    found = body.get("results") or body["accounts"]
    return {row["email"]: row for row in found}


@pytest.mark.parametrize("url", ["/api/v1/accounts/", f"/api/v1/homes/{HOME_A}/"])
def test_a_managers_action_renews_the_page(world, url):
    ali = StaffAccount.objects.get(email="ali.risky@nhs.net")
    assert rows(url, world["national"])["ali.risky@nhs.net"]["state"] == "at_risk"
    manager = Client()
    manager.force_login(world["users"]["manager"])
    action = reverse("account_action", args=[HOME_A, ali.pk, "left"])
    assert manager.post(action, {"on": TODAY.strftime("%d/%m/%Y")}).status_code == 302
    assert rows(url, world["national"])["ali.risky@nhs.net"]["state"] == "left"


def test_the_nights_check_renews_the_pages_and_their_as_of(world):
    body = get("/api/v1/homes/", world["national"]).json()
    assert body["as_of"] == TODAY.isoformat()
    later = TODAY + timedelta(days=30)
    with time_machine.travel(NOW + timedelta(minutes=5), tick=False):  # the last run
        call_command("check_inactivity", "--as-of", str(later), stdout=io.StringIO())
    body = get("/api/v1/homes/", world["national"]).json()
    assert body["as_of"] == later.isoformat()
    assert {row["as_of"] for row in body["results"]} == {later.isoformat()}
    one = get(f"/api/v1/homes/{HOME_A}/", world["manager"]).json()
    assert one["as_of"] == later.isoformat()


def test_a_deleted_run_moves_the_as_of_at_once(world, django_capture_on_commit_callbacks):
    """The envelope's date is the last national check's that ended well: deleting it (in
    /admin/, the shell) renews every version once committed."""
    assert get("/api/v1/mailboxes/", world["national"]).json()["as_of"] == TODAY.isoformat()
    with django_capture_on_commit_callbacks(execute=True):
        CheckRun.objects.all().delete()
    assert get("/api/v1/mailboxes/", world["national"]).json()["as_of"] is None


def test_an_import_renews_the_page(world, tmp_path):
    def names() -> tuple[str, str]:
        listed = rows("/api/v1/accounts/", world["region_admin"])["amy.active@nhs.net"]
        one_home = rows(f"/api/v1/homes/{HOME_A}/", world["manager"])["amy.active@nhs.net"]
        return listed["display_name"], one_home["display_name"]

    assert names() == ("Amy Active", "Amy Active")
    path = tmp_path / "accounts.csv"
    path.write_text("email,ods_code,display_name\namy.active@nhs.net,VM4Q7,Amy Renamed\n")
    call_command("import_accounts", str(path), stdout=io.StringIO())
    assert names() == ("Amy Renamed", "Amy Renamed")


def test_an_orm_save_renews_the_page_once_committed(
    world, rosewood, django_capture_on_commit_callbacks
):
    assert "zed.new@nhs.net" not in rows("/api/v1/accounts/", world["national"])
    assert get(f"/api/v1/homes/{HOME_A}/", world["manager"]).json()["accounts_total"] == 2
    with django_capture_on_commit_callbacks(execute=True):
        make_account(rosewood, "zed.new@nhs.net", days_ago=1)
    assert "zed.new@nhs.net" in rows("/api/v1/accounts/", world["national"])
    assert get(f"/api/v1/homes/{HOME_A}/", world["manager"]).json()["accounts_total"] == 3


def test_an_edit_in_the_admin_renews_the_page(world, superuser):
    home = CareHome.objects.get(ods_code=HOME_A)
    names = {row["ods_code"]: row["name"] for row in rows_of_homes(world)}
    assert names[HOME_A] == "Rosewood Care Home"
    admin = Client()
    admin.force_login(superuser)
    url = reverse("admin:accounts_carehome_change", args=[home.pk])
    fields = {"ods_code": home.ods_code, "name": "Rosewood House", "region": home.region_id,
              "risk_rank": home.risk_rank}  # fmt: skip
    assert admin.post(url, fields).status_code == 302
    names = {row["ods_code"]: row["name"] for row in rows_of_homes(world)}
    assert names[HOME_A] == "Rosewood House"
    assert get(f"/api/v1/homes/{HOME_A}/", world["manager"]).json()["name"] == "Rosewood House"


def rows_of_homes(world) -> list[dict]:
    return get("/api/v1/homes/", world["national"]).json()["results"]


def test_runs_are_never_kept(world, rosewood):
    """A run is recorded by writes that renew no version (a run starting, skipped, failed)."""
    assert len(get("/api/v1/runs/", world["national"]).json()["results"]) == 1
    CheckRun.objects.create(as_of=TODAY, trigger=CheckRun.Trigger.COMMAND)  # one starting
    assert len(get("/api/v1/runs/", world["national"]).json()["results"]) == 2


def test_a_write_between_reading_the_home_and_its_version_is_not_kept(world, monkeypatch):
    """One home is looked up (scoped) before its region's version is read: what is kept is
    read again after it, so a write that commits between the two is in it."""
    later = TODAY + timedelta(days=30)
    check_commits_at_first_version_read(monkeypatch, later)
    for _ in range(2):
        assert get(f"/api/v1/homes/{HOME_A}/", world["manager"]).json()["as_of"] == str(later)
