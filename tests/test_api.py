"""The read API: who sees what through a token, the figures it gives, its pages, tokens and
schema."""

import csv
import io
from datetime import timedelta

import hypothesis
import pytest
import schemathesis
import time_machine
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver

from accounts import dashboard, rules
from accounts.checks import run_check
from accounts.models import AuditEntry, CareHome, SharedMailbox, StaffAccount, User
from api import tokens
from api.models import ApiToken, hash_token
from api.views import ApiView
from tests.conftest import PASSWORD, TODAY, api_users, at_london, make_account

NOW = at_london(TODAY, 12)
HOME_A, HOME_B = "VM4Q7", "VN8P2"


@pytest.fixture(autouse=True)
def fresh_throttle():
    """Throttle counts live in the cache, keyed by token id: start each test from zero."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def world(db, frozen, rosewood, willow, rosewood_mailbox, willow_mailbox):
    """Home A (Rosewood, Leicestershire) with a healthy-ish mailbox and a leaver; home B
    (Willow, Yorkshire) with one account. The check has run as of TODAY."""
    make_account(rosewood, "amy.active@nhs.net", days_ago=5, mailboxes=[rosewood_mailbox])
    make_account(rosewood, "ali.risky@nhs.net", days_ago=70, mailboxes=[rosewood_mailbox])
    make_account(rosewood, "old.leaver@nhs.net", days_ago=200, left_on=TODAY)
    make_account(willow, "bob.willow@nhs.net", days_ago=100, mailboxes=[willow_mailbox])
    run_check(TODAY)
    users = api_users(rosewood)
    manager = users["manager"]
    revoked, revoked_secret = tokens.issue(manager, name="old", days=30, actor=manager)
    tokens.revoke(revoked, actor=manager)
    _, expired_secret = tokens.issue(
        manager, name="stale", days=1, actor=manager, now=NOW - timedelta(days=2)
    )
    return {
        **{name: bearer(user) for name, user in users.items()},
        "revoked": revoked_secret,
        "expired": expired_secret,
        "users": users,
    }


def bearer(user) -> str:
    return tokens.issue(user, name="test", days=30, actor=user)[1]


# One client for every token call: it keeps no cookies for them, and making a client loads
# the middleware again (WhiteNoise walks every static file), which would slow the suite.
BEARER_CLIENT = Client()


def get(url, token=None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return BEARER_CLIENT.get(url, **headers)


# ---------------------------------------------------------------------------------------
# The access matrix: every API endpoint, every kind of caller, objects in and out of scope.

ROLES = ["anonymous", "manager", "region_admin", "national", "revoked", "expired"]
# url -> (status, ODS codes seen) per role, in ROLES order. None: not a list of homes' rows.
A, B, AB, NONE = {HOME_A}, {HOME_B}, {HOME_A, HOME_B}, set()
DENIED = (401, None)
MATRIX = {
    "/api/v1/homes/": [DENIED, (200, A), (200, A), (200, AB), DENIED, DENIED],
    f"/api/v1/homes/{HOME_A}/": [DENIED, (200, A), (200, A), (200, A), DENIED, DENIED],
    f"/api/v1/homes/{HOME_B}/": [DENIED, (404, None), (404, None), (200, B), DENIED, DENIED],
    "/api/v1/homes/ZZZ99/": [DENIED, (404, None), (404, None), (404, None), DENIED, DENIED],
    "/api/v1/accounts/": [DENIED, (200, A), (200, A), (200, AB), DENIED, DENIED],
    f"/api/v1/accounts/?ods_code={HOME_B}": [
        DENIED,
        (200, NONE),
        (200, NONE),
        (200, B),
        DENIED,
        DENIED,
    ],
    "/api/v1/mailboxes/": [DENIED, (200, A), (200, A), (200, AB), DENIED, DENIED],
    f"/api/v1/mailboxes/?ods_code={HOME_B}": [
        DENIED,
        (200, NONE),
        (200, NONE),
        (200, B),
        DENIED,
        DENIED,
    ],
    "/api/v1/runs/": [DENIED, (404, None), (200, None), (200, None), DENIED, DENIED],
    "/api/v1/worklist/": [DENIED, (404, None), (200, A), (200, AB), DENIED, DENIED],
    "/api/v1/worklist/?format=csv": [DENIED, (404, None), (200, None), (200, None), DENIED, DENIED],
    "/api/v1/homes/?format=csv": [DENIED, (200, None), (200, None), (200, None), DENIED, DENIED],
    # Public, but a token that is sent must still be a good one.
    "/api/schema/": [(200, None)] * 4 + [DENIED] * 2,
    "/api/docs/": [(200, None)] * 4 + [DENIED] * 2,
}


def seen_codes(response) -> set[str]:
    body = response.json()
    rows = body.get("results", [body])
    return {row["ods_code"] for row in rows}


def test_access_matrix(world):
    failures, checked = [], 0
    for url, expected in MATRIX.items():
        for role, (status, codes) in zip(ROLES, expected, strict=True):
            response = get(url, None if role == "anonymous" else world[role])
            checked += 1
            if response.status_code != status:
                failures.append(f"{role} GET {url}: {response.status_code}, expected {status}")
            elif codes is not None and seen_codes(response) != codes:
                failures.append(f"{role} GET {url}: saw {seen_codes(response)}, not {codes}")
    assert not failures, "\n".join(failures)
    assert checked == len(MATRIX) * len(ROLES)


def api_patterns(resolver=None):
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            yield from api_patterns(entry)
        elif isinstance(entry, URLPattern) and str(entry.pattern).startswith("api/"):
            yield str(entry.pattern)


def test_every_api_url_is_in_the_matrix(db):
    covered = {url.split("?")[0].replace(HOME_A, "<str:ods_code>") for url in MATRIX}
    assert set(api_patterns()) <= {u.removeprefix("/") for u in covered}


def test_refused_tokens_say_why_with_401(world):
    for secret, why in [
        (world["revoked"], "revoked"),
        (world["expired"], "expired"),
        ("chp_not-a-real-token", "Unknown"),
    ]:
        response = get("/api/v1/homes/", secret)
        assert response.status_code == 401
        assert why in response.json()["detail"]
        assert response["WWW-Authenticate"].startswith("Bearer")
    two_words = Client().get("/api/v1/homes/", HTTP_AUTHORIZATION="Bearer a b")
    assert two_words.status_code == 401


def test_a_user_who_can_no_longer_sign_in_loses_their_tokens(world):
    manager = world["users"]["manager"]
    manager.is_active = False
    manager.save()
    assert get("/api/v1/homes/", world["manager"]).status_code == 401


def test_a_token_sees_what_its_user_sees_when_scope_changes(world, willow):
    world["users"]["manager"].homes.add(willow)
    assert seen_codes(get("/api/v1/homes/", world["manager"])) == AB


def test_the_portal_session_reads_the_api_too(world):
    client = Client()
    client.force_login(world["users"]["manager"])
    response = client.get("/api/v1/homes/")
    assert response.status_code == 200
    assert seen_codes(response) == A


def test_nothing_can_be_written(world):
    client = Client(HTTP_AUTHORIZATION=f"Bearer {world['national']}")
    for url in ["/api/v1/homes/", f"/api/v1/homes/{HOME_A}/", "/api/v1/accounts/"]:
        for method in ("post", "put", "patch", "delete"):
            assert getattr(client, method)(url, {}).status_code == 405, f"{method} {url}"


def test_runs_hide_national_totals_from_an_admin_limited_to_regions(world, rosewood):
    run_check(TODAY, home=rosewood)
    national = get("/api/v1/runs/", world["national"]).json()["results"]
    regional = get("/api/v1/runs/", world["region_admin"]).json()["results"]
    assert [r["ods_code"] for r in national] == [HOME_A, None]
    assert national[1]["accounts"]["inactive"] == 1
    assert regional[1]["ods_code"] is None and regional[1]["accounts"] is None
    assert regional[0]["accounts"] is not None  # a run of their own home


# ---------------------------------------------------------------------------------------
# The figures: the pages' own, as of the last check.


def test_every_response_carries_the_as_of_date_of_the_last_check(world):
    with time_machine.travel(NOW + timedelta(days=3), tick=False):
        for url in ["/api/v1/homes/", "/api/v1/accounts/", "/api/v1/mailboxes/", "/api/v1/runs/"]:
            assert get(url, world["national"]).json()["as_of"] == TODAY.isoformat(), url
        assert get(f"/api/v1/homes/{HOME_A}/", world["national"]).json()["as_of"] == "2026-06-15"
        ali = account_row(world, "ali.risky@nhs.net")
    # Counted as of the check's date, not the day it was read, so it agrees with the state.
    assert (ali["days_inactive"], ali["state"], ali["as_of"]) == (70, "at_risk", "2026-06-15")


def test_a_recheck_of_one_home_moves_its_own_as_of(world, rosewood):
    later = TODAY + timedelta(days=3)
    with time_machine.travel(NOW + timedelta(days=3), tick=False):
        run_check(later, home=rosewood)
        body = get("/api/v1/accounts/", world["national"]).json()
    assert body["as_of"] == TODAY.isoformat()  # the last check of every home
    rows = {row["email"]: row for row in body["results"]}
    assert (rows["ali.risky@nhs.net"]["as_of"], rows["ali.risky@nhs.net"]["days_inactive"]) == (
        later.isoformat(),
        73,
    )
    assert rows["bob.willow@nhs.net"]["as_of"] == TODAY.isoformat()


def test_before_the_first_check_nothing_is_counted(db, frozen, manager, rosewood):
    make_account(rosewood, "new.starter@nhs.net", days_ago=3)
    body = get("/api/v1/accounts/", bearer(manager)).json()
    assert body["as_of"] is None
    assert body["results"][0] | {"email": None} == {
        "ods_code": HOME_A,
        "email": None,
        "display_name": "New Starter",
        "state": None,
        "last_activity": (TODAY - timedelta(days=3)).isoformat(),
        "days_inactive": None,
        "disable_date": None,
        "as_of": None,
    }


def account_row(world, email):
    rows = get("/api/v1/accounts/", world["national"]).json()["results"]
    return next(row for row in rows if row["email"] == email)


def test_accounts_use_the_contract_names_and_the_rules(world):
    row = account_row(world, "ali.risky@nhs.net")
    account = StaffAccount.objects.get(email="ali.risky@nhs.net")
    assert row == {
        "ods_code": HOME_A,
        "email": "ali.risky@nhs.net",
        "display_name": "Ali Risky",
        "state": "at_risk",
        "last_activity": (TODAY - timedelta(days=70)).isoformat(),
        "days_inactive": rules.days_inactive(account.activity_on, TODAY),
        "disable_date": (TODAY + timedelta(days=20)).isoformat(),
        "as_of": TODAY.isoformat(),
    }
    assert row["days_inactive"] == account.days_inactive == 70


def test_a_log_in_vouched_for_counts_as_on_the_home_page(world, client):
    StaffAccount.objects.filter(email="ali.risky@nhs.net").update(attested_on=TODAY)
    # Until the home is rechecked, the figure stays the one its state was judged by...
    assert account_row(world, "ali.risky@nhs.net")["days_inactive"] > 0
    run_check(TODAY, home=CareHome.objects.get(ods_code=HOME_A))
    assert account_row(world, "ali.risky@nhs.net")["days_inactive"] == 0


def test_one_home_shows_what_its_page_shows(world, client):
    client.force_login(world["users"]["manager"])
    page = client.get(f"/homes/{HOME_A}/").context
    body = get(f"/api/v1/homes/{HOME_A}/", world["manager"]).json()
    assert body["worst_risk"] == page["summary"].worst_risk
    assert body["accounts_by_state"] == page["summary"].counts
    assert {a["email"]: a["days_inactive"] for a in body["accounts"]} == {
        a.email: a.days for a in page["accounts"]
    }
    mailbox = body["mailboxes"][0]
    assert mailbox["email"] == "rosewood.carehome@nhs.net"
    assert mailbox["linked_accounts"] == ["ali.risky@nhs.net", "amy.active@nhs.net"]
    assert mailbox["linked_more"] == 0
    assert (mailbox["risk"], mailbox["alive_accounts"]) == ("healthy", 2)
    assert body["accounts_total"] == 3
    assert body["all_accounts"] == f"http://testserver/api/v1/accounts/?ods_code={HOME_A}"
    amy = next(a for a in body["accounts"] if a["email"] == "amy.active@nhs.net")
    assert amy["mailboxes"] == ["rosewood.carehome@nhs.net"]
    assert body["region"] == "Leicestershire"


def test_homes_list_gives_worst_risk_soonest_forecast_and_counts(world):
    rows = {r["ods_code"]: r for r in get("/api/v1/homes/", world["national"]).json()["results"]}
    willow = CareHome.objects.get(ods_code=HOME_B)
    assert rows[HOME_B]["worst_risk"] == willow.worst_risk == "at_risk"
    assert rows[HOME_A]["worst_risk"] == "healthy"
    assert rows[HOME_A]["soonest_forecast"] == (TODAY + timedelta(days=85)).isoformat()
    assert rows[HOME_A]["accounts_by_state"] == {
        "active": 1,
        "at_risk": 1,
        "inactive": 0,
        "disabled": 0,
        "deleted": 0,
        "left": 1,
    }


@pytest.mark.parametrize(
    ("query", "emails"),
    [
        ("state=at_risk", {"ali.risky@nhs.net"}),
        ("state=inactive", {"bob.willow@nhs.net"}),
        (f"ods_code={HOME_B.lower()}", {"bob.willow@nhs.net"}),
        (
            "region=Leicestershire",
            {"amy.active@nhs.net", "ali.risky@nhs.net", "old.leaver@nhs.net"},
        ),
        (
            "disable_date_before=2026-07-06",
            {"ali.risky@nhs.net", "bob.willow@nhs.net", "old.leaver@nhs.net"},
        ),
        ("disable_date_before=2026-07-05", {"bob.willow@nhs.net", "old.leaver@nhs.net"}),
    ],
)
def test_accounts_filters(world, query, emails):
    rows = get(f"/api/v1/accounts/?{query}", world["national"]).json()["results"]
    assert {row["email"] for row in rows} == emails


def test_mailbox_and_home_filters(world):
    rows = get("/api/v1/mailboxes/?risk=at_risk", world["national"]).json()["results"]
    assert [row["email"] for row in rows] == ["willow.court@nhs.net"]
    rows = get("/api/v1/homes/?worst_risk=at_risk", world["national"]).json()["results"]
    assert [row["ods_code"] for row in rows] == [HOME_B]
    rows = get("/api/v1/homes/?region=Yorkshire", world["region_admin"]).json()["results"]
    assert rows == []
    rows = get("/api/v1/homes/?region=%20Yorkshire%20", world["national"]).json()["results"]
    assert [row["ods_code"] for row in rows] == [HOME_B]
    rows = get("/api/v1/homes/?region=%20%20", world["national"]).json()["results"]
    assert len(rows) == 2


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/v1/accounts/?state=sleepy", "state"),
        ("/api/v1/accounts/?disable_date_before=31/12/2026", "disable_date_before"),
        ("/api/v1/mailboxes/?risk=doomed", "risk"),
        ("/api/v1/homes/?worst_risk=doomed&format=csv", "worst_risk"),
        ("/api/v1/accounts/?ods_code=not-ods", "ods_code"),
    ],
)
def test_bad_filters_are_a_400_naming_the_field(world, url, field):
    response = get(url, world["national"])
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert field in response.json()


# ---------------------------------------------------------------------------------------
# Pages of results: cursors on an indexed key, and a fixed number of queries per page.


@pytest.fixture
def many_homes(world, midlands):
    for n in range(30):
        home = CareHome.objects.create(ods_code=f"Z{n:03d}", name=f"Home {n}", region=midlands)
        mailbox = SharedMailbox.objects.create(home=home, email=f"home{n}@nhs.net")
        make_account(home, f"one{n}@nhs.net", days_ago=n * 5, mailboxes=[mailbox])
        make_account(home, f"two{n}@nhs.net", days_ago=n, mailboxes=[mailbox])
    run_check(TODAY)


def test_a_nul_character_is_refused_before_any_query(world):
    assert get("/api/v1/mailboxes/?region=a%00b", world["national"]).status_code == 400


def test_a_cursor_the_api_did_not_give_is_a_clear_404(world):
    response = get("/api/v1/accounts/?cursor=not-a-cursor", world["national"])
    assert response.status_code == 404
    assert "cursor" in response.json()["detail"]


@pytest.mark.parametrize(
    "endpoint, position",
    [
        ("accounts", "abc"),
        ("accounts", ""),
        ("runs", "1.5"),
        ("mailboxes", "1e999"),
        ("mailboxes", "99999999999999999999999"),
        ("homes", "A\x00B"),
        ("homes", "../../x"),
    ],
)
def test_a_forged_cursor_position_is_a_clear_404(world, endpoint, position):
    import base64
    from urllib.parse import quote, urlencode

    raw = urlencode({"o": "0", "r": "0", "p": position}).encode()
    cursor = quote(base64.b64encode(raw).decode())
    response = get(f"/api/v1/{endpoint}/?cursor={cursor}", world["national"])
    assert response.status_code == 404
    assert "cursor" in response.json()["detail"]


def test_following_next_walks_every_row_once(many_homes, world):
    seen, url = [], "/api/v1/accounts/?page_size=7"
    while url:
        body = get(url, world["national"]).json()
        seen += [row["email"] for row in body["results"]]
        url = body["next"]
    assert len(seen) == len(set(seen)) == StaffAccount.objects.count() == 64


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/homes/",
        "/api/v1/accounts/",
        "/api/v1/mailboxes/",
        "/api/v1/runs/",
        "/api/v1/worklist/",
        "/api/v1/accounts/?format=csv",
    ],
)
def test_queries_do_not_grow_with_the_page_size(
    many_homes, world, url, django_assert_max_num_queries, monkeypatch
):
    """Pages as they are computed (a kept page's queries are its token's and its versions':
    test_api_kept.py)."""
    monkeypatch.setattr(ApiView, "kept", lambda view, versions, what, fresh: fresh())
    sep = "&" if "?" in url else "?"
    get(url, world["region_admin"])  # the worklist's counts, kept from then on
    for size in (2, 30):  # and its pages (each page of people is kept too)
        get(f"{url}{sep}page_size={size}", world["region_admin"])
    counts = []
    for size in (2, 30):
        with CaptureQueriesContext(connection) as queries:
            response = get(f"{url}{sep}page_size={size}", world["region_admin"])
        assert response.status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1], counts
    with django_assert_max_num_queries(6):
        get(f"{url}{sep}page_size=30", world["region_admin"])


def test_one_home_costs_the_same_whatever_its_size(
    world,
    rosewood,
    rosewood_mailbox,
    django_assert_max_num_queries,
    django_capture_on_commit_callbacks,
):
    counts = []
    for extra in (20, 60):
        with django_capture_on_commit_callbacks(execute=True):  # the kept page renewed
            for n in range(len(counts) * 20, extra):
                make_account(
                    rosewood, f"extra{n}@nhs.net", days_ago=n, mailboxes=[rosewood_mailbox]
                )
        with CaptureQueriesContext(connection) as queries:
            body = get(f"/api/v1/homes/{HOME_A}/", world["manager"]).json()
        counts.append(len(queries))
    assert counts[0] == counts[1], counts
    assert body["accounts_total"] == 63
    assert len(body["accounts"]) == dashboard.HOME_PAGE_ACCOUNTS
    assert len(body["mailboxes"][0]["linked_accounts"]) == dashboard.LINKED_SHOWN
    assert body["mailboxes"][0]["linked_more"] == 62 - dashboard.LINKED_SHOWN
    with django_assert_max_num_queries(7):
        get(f"/api/v1/homes/{HOME_A}/", world["manager"])


# ---------------------------------------------------------------------------------------
# CSV, through the downloads' writer.


def test_lists_come_as_csv_through_the_downloads_writer(world):
    StaffAccount.objects.filter(email="amy.active@nhs.net").update(display_name="=1+2")
    response = get("/api/v1/accounts/?format=csv&ods_code=VM4Q7", world["manager"])
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    text = response.content.decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == [
        "ods_code",
        "email",
        "display_name",
        "state",
        "last_activity",
        "days_inactive",
        "disable_date",
        "as_of",
    ]
    assert {r["as_of"] for r in rows} == {TODAY.isoformat()}
    amy = next(row for row in rows if row["email"] == "amy.active@nhs.net")
    assert amy["display_name"] == "'=1+2"  # defused as in the downloads; JSON stays raw
    assert account_row(world, "amy.active@nhs.net")["display_name"] == "=1+2"


def test_homes_csv_spreads_the_counts_into_columns(world):
    text = get("/api/v1/homes/?format=csv", world["national"]).content.decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["ods_code"] == HOME_A
    assert rows[0]["accounts_by_state_left"] == "1"
    assert rows[1]["worst_risk"] == "at_risk"


# ---------------------------------------------------------------------------------------
# Throttling per token.


def test_each_token_is_throttled_on_its_own(world, settings):
    settings.API_THROTTLE_RATE = "3/minute"
    statuses = [get("/api/v1/homes/", world["manager"]).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert get("/api/v1/homes/", world["national"]).status_code == 200


# ---------------------------------------------------------------------------------------
# The token page.


def test_a_user_makes_a_token_sees_it_once_and_it_works(world, client):
    manager = world["users"]["manager"]
    client.force_login(manager)
    response = client.post("/api-tokens/", {"name": "Power BI", "days": "30"})
    assert response.status_code == 200
    secret = response.context["secret"]
    assert secret.startswith("chp_") and secret in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    token = ApiToken.objects.get(name="Power BI")
    assert token.user == manager and token.key_hash != secret and secret.startswith(token.prefix)
    assert token.expires_at == NOW + timedelta(days=30)
    assert seen_codes(get("/api/v1/homes/", secret)) == A
    listing = client.get("/api-tokens/").content.decode()
    assert "Power BI" in listing and token.prefix in listing and secret not in listing
    entry = AuditEntry.objects.get(action="API token created", detail__contains=token.prefix)
    assert entry.user == manager and entry.subject == manager.email


def test_a_token_needs_a_name(world, client):
    client.force_login(world["users"]["manager"])
    response = client.post("/api-tokens/", {"name": " ", "days": "30"})
    assert response.status_code == 200 and response.context["secret"] is None
    assert "This field is required" in response.content.decode()
    assert not ApiToken.objects.filter(name=" ").exists()


def test_a_user_revokes_their_token(world, client):
    manager = world["users"]["manager"]
    token = manager.api_tokens.get(name="test")
    client.force_login(manager)
    assert client.get(f"/api-tokens/{token.pk}/revoke/").status_code == 405
    response = client.post(f"/api-tokens/{token.pk}/revoke/")
    assert response.status_code == 302
    assert get("/api/v1/homes/", world["manager"]).status_code == 401
    assert AuditEntry.objects.filter(action="API token revoked", user=manager).count() == 2
    client.post(f"/api-tokens/{token.pk}/revoke/")  # twice changes and records nothing
    assert AuditEntry.objects.filter(action="API token revoked", user=manager).count() == 2


def test_nobody_revokes_another_users_token(world, client):
    token = world["users"]["national"].api_tokens.get()
    client.force_login(world["users"]["manager"])
    assert client.post(f"/api-tokens/{token.pk}/revoke/").status_code == 404
    assert get("/api/v1/homes/", world["national"]).status_code == 200


def test_token_page_needs_sign_in_and_csrf(world):
    assert Client().get("/api-tokens/").status_code == 302
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(world["users"]["manager"])
    assert strict.post("/api-tokens/", {"name": "x", "days": "30"}).status_code == 403
    token = world["users"]["manager"].api_tokens.get(name="test")
    assert strict.post(f"/api-tokens/{token.pk}/revoke/").status_code == 403


def test_the_header_menu_links_to_the_token_page(world, client):
    client.force_login(world["users"]["manager"])
    assert 'href="/api-tokens/"' in client.get("/dashboard/").content.decode()


def test_a_superuser_lists_and_revokes_tokens_in_the_admin(world, client, superuser):
    client.force_login(superuser)
    listing = client.get("/admin/api/apitoken/")
    assert listing.status_code == 200 and "manager.a@example.org" in listing.content.decode()
    assert client.get("/admin/api/apitoken/add/").status_code == 403
    token = world["users"]["manager"].api_tokens.get(name="test")
    client.post("/admin/api/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    assert get("/api/v1/homes/", world["manager"]).status_code == 401
    assert AuditEntry.objects.filter(action="API token revoked", user=superuser).count() == 1


# ---------------------------------------------------------------------------------------
# create_api_token


def run_command(*args) -> list[str]:
    out = io.StringIO()
    call_command("create_api_token", *args, stdout=out)
    return out.getvalue().splitlines()


def test_create_api_token_prints_the_token_alone_on_its_last_line(world):
    lines = run_command("Manager.A@example.org")
    secret = lines[-1]
    assert secret == secret.strip() and " " not in secret and secret.startswith("chp_")
    assert seen_codes(get("/api/v1/homes/", secret)) == A
    token = ApiToken.objects.get(prefix=secret[: tokens.PREFIX_LENGTH])
    assert token.expires_at == NOW + timedelta(days=90)
    entry = AuditEntry.objects.get(action="API token created", detail__contains=token.prefix)
    assert entry.user is None and entry.subject == "manager.a@example.org"


def test_create_api_token_days_sets_the_expiry(world):
    secret = run_command("national@example.org", "--days", "7")[-1]
    token = ApiToken.objects.get(prefix=secret[: tokens.PREFIX_LENGTH])
    assert token.expires_at == NOW + timedelta(days=7)
    with time_machine.travel(NOW + timedelta(days=7, seconds=1), tick=False):
        assert get("/api/v1/homes/", secret).status_code == 401


def test_create_api_token_name(world):
    secret = run_command("national@example.org", "--name", "Excel north")[-1]
    assert ApiToken.objects.get(prefix=secret[: tokens.PREFIX_LENGTH]).name == "Excel north"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nobody@example.org"], "no portal user"),
        (["national@example.org", "--days", "0"], "--days"),
        (["national@example.org", "--days", "366"], "--days"),
    ],
)
def test_create_api_token_refuses_clearly(world, args, message):
    with pytest.raises(CommandError, match=message):
        run_command(*args)
    assert not ApiToken.objects.filter(name="Made with create_api_token").exists()


# ---------------------------------------------------------------------------------------
# Schema and docs


def test_schema_is_openapi_3_and_describes_the_bearer_token(db):
    response = Client().get("/api/schema/?format=json")
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert {"/api/v1/homes/", "/api/v1/accounts/", "/api/v1/runs/"} <= set(schema["paths"])


def test_docs_page_loads_only_our_own_files_and_no_inline_code(db):
    response = Client().get("/api/docs/")
    html = response.content.decode()
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "<style" not in html
    assert "<script>" not in html  # every script has a src on this site
    for src in ("swagger-ui-bundle.js", "swagger-ui.css", "?script="):
        assert src in html
    assert "http" not in html.split("<body>")[1]  # nothing from another site
    script = Client().get("/api/docs/?script=")
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()


def test_expired_tokens_stop_at_their_expiry(world):
    token = world["users"]["national"].api_tokens.get()
    with time_machine.travel(token.expires_at - timedelta(seconds=1), tick=False):
        assert get("/api/v1/homes/", world["national"]).status_code == 200
    with time_machine.travel(token.expires_at, tick=False):
        assert get("/api/v1/homes/", world["national"]).status_code == 401


def test_tokens_are_stored_hashed(world):
    assert not ApiToken.objects.filter(key_hash=world["manager"]).exists()
    assert ApiToken.objects.filter(key_hash=hash_token(world["manager"])).exists()


# ---------------------------------------------------------------------------------------
# Property-based: schemathesis generates requests from the served schema and sends them to a
# live server on 127.0.0.1; no answer may be a 5xx or stray from the schema.


EXAMPLES_PER_OPERATION = 25


@pytest.fixture
def served_schema(live_server, rosewood, willow, rosewood_mailbox, willow_mailbox, settings):
    settings.API_THROTTLE_RATE = "100000/minute"
    make_account(rosewood, "amy.active@nhs.net", days_ago=5, mailboxes=[rosewood_mailbox])
    make_account(willow, "bob.willow@nhs.net", days_ago=100, mailboxes=[willow_mailbox])
    run_check(TODAY)
    national = User.objects.create_user("national@example.org", PASSWORD, role="admin")
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/schema/")
    return schema, {"Authorization": f"Bearer {bearer(national)}"}


def conformance_test(operation, headers, sent):
    """Hypothesis drives the operation's strategy (schemathesis's own pytest loader does not
    run under pytest 9 yet); each answer goes through schemathesis's default checks."""

    @hypothesis.settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(hypothesis.HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    )
    @hypothesis.given(case=operation.as_strategy())
    def run(case):
        sent[operation.label] = sent.get(operation.label, 0) + 1
        case.call_and_validate(headers=headers)

    return run


def test_api_conforms_to_its_schema(served_schema):
    schema, headers = served_schema
    failures, sent = {}, {}
    for result in schema.get_all_operations():
        operation = result.ok()
        try:
            conformance_test(operation, headers, sent)()
        except Exception as failure:  # every operation is tried; all failures are reported
            failures[operation.label] = failure
    assert not failures, "\n\n".join(f"{label}: {error!r}" for label, error in failures.items())
    assert len(sent) == 6, sent
    print(f"schemathesis: {len(sent)} operations, {sum(sent.values())} requests, 0 failures")


def test_the_worklist_is_the_pages_worklist(world, client):
    from accounts import worklist

    national = world["users"]["national"]
    body = get("/api/v1/worklist/", world["national"]).json()
    expected = list(worklist.rows(national))
    assert body["count"] == len(expected) == 3
    assert [(r["email"], r["todo"]) for r in body["results"]] == [
        (r["email"], r["todo"]) for r in expected
    ]
    ali = next(r for r in body["results"] if r["email"] == "ali.risky@nhs.net")
    assert ali["log_in_by"] == (TODAY + timedelta(days=20)).isoformat()
    assert body["as_of"] == TODAY.isoformat()
    assert get("/api/v1/worklist/?page=99", world["national"]).status_code == 404


def test_plain_rows_are_what_drf_writes_field_by_field(world, rosewood, monkeypatch):
    """serializers.Plain writes each row in one loop over the declared fields; every list,
    the home detail and the CSV must be exactly what DRF's own field-by-field
    Serializer.to_representation gives, nulls included (a home with no region, an account
    not judged yet, dates not set)."""
    from api import serializers

    CareHome.objects.create(ods_code="ZX12", name="No Region Home")
    make_account(rosewood, "new.starter@nhs.net")  # after the check: not judged, no activity
    urls = [
        "/api/v1/homes/",
        "/api/v1/accounts/",
        "/api/v1/mailboxes/",
        f"/api/v1/homes/{HOME_A}/",
        "/api/v1/accounts/?format=csv",
    ]
    token = world["national"]
    plain = [get(url, token).content for url in urls]
    monkeypatch.setattr(
        serializers.Plain, "to_representation", serializers.serializers.Serializer.to_representation
    )
    assert [get(url, token).content for url in urls] == plain
    assert b"ZX12" in plain[0] and b"new.starter@nhs.net" in plain[1]
    assert b'"state":null' in plain[1] and b'"region":null' in plain[0]


# Names that every JSON writer must escape the same way: quotes, backslashes, control
# characters, letters beyond ASCII (kept as they are), and U+2028/U+2029 (escaped).
AWKWARD_NAMES = [
    'Ann "Nan" O\'Neil',
    "back\\slash and /slash",
    "tab\there, new\nline, bell\x07, escape\x1b, delete\x7f",
    "Zoë Ærøskøbing 😀",
    "line\u2028separator\u2029paragraph",
    "",
]
JSON_LISTS = [
    "/api/v1/accounts/?page_size=1000",
    "/api/v1/accounts/?page_size=2",
    f"/api/v1/accounts/?state=at_risk&ods_code={HOME_A}",
    "/api/v1/accounts/?region=Leicestershire&disable_date_before=2026-07-06",
    "/api/v1/mailboxes/",
    "/api/v1/mailboxes/?risk=at_risk",
]


def pages(url, token) -> list[bytes]:
    """Every page of a list, following next (and one previous, to walk a reverse cursor)."""
    bodies = []
    while url:
        response = get(url, token)
        assert response.status_code == 200, url
        bodies.append(response.content)
        url = response.json()["next"]
    previous = response.json()["previous"]
    if previous:
        bodies.append(get(previous, token).content)
    return bodies


def test_rows_the_database_writes_are_what_the_serializer_writes(
    world, rosewood, willow, monkeypatch
):
    """On PostgreSQL the accounts' and mailboxes' JSON pages are written by the database
    (api/sqljson.py); they must be byte for byte what the serializers and DRF's renderer
    write, nulls and escapes included, on every page and for every scope."""
    from api import sqljson

    for n, name in enumerate(AWKWARD_NAMES):  # after the check: not judged yet
        account = make_account(rosewood if n % 2 else willow, f"odd{n}@nhs.net", days_ago=n)
        StaffAccount.objects.filter(pk=account.pk).update(display_name=name)
    SharedMailbox.objects.create(home=rosewood, email="new.box@nhs.net", display_name='"x"\\')
    tokens = [world["national"], world["region_admin"], world["manager"]]
    with CaptureQueriesContext(connection) as queries:
        by_database = [pages(url, token) for url in JSON_LISTS for token in tokens]
    written_there = any("to_json" in query["sql"] for query in queries.captured_queries)
    assert written_there == (connection.vendor == "postgresql")
    monkeypatch.setattr(sqljson, "available", lambda: False)
    cache.clear()  # the pages kept for the admins' tokens: rendered anew
    by_serializer = [pages(url, token) for url in JSON_LISTS for token in tokens]
    assert by_database == by_serializer
    everything = b"".join(by_database[0])
    assert b"\\u2028" in everything and "Zoë".encode() in everything
    assert b'"state":null' in everything and b'"days_inactive":null' in everything


@pytest.mark.skipif(connection.vendor != "postgresql", reason="rows are written by PostgreSQL")
@hypothesis.settings(
    max_examples=60,
    deadline=None,
    database=None,
    derandomize=True,
    # Each example writes the one name it checks: nothing carries over between them.
    suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture],
)
@hypothesis.given(
    name=hypothesis.strategies.text(
        hypothesis.strategies.characters(blacklist_categories=["Cs"], blacklist_characters="\x00")
    )
)
def test_any_name_is_escaped_as_the_serializer_escapes_it(world, name):
    from api import serializers, sqljson
    from api.renderers import JSONRenderer

    StaffAccount.objects.filter(email="ali.risky@nhs.net").update(display_name=name)
    accounts = StaffAccount.objects.filter(email="ali.risky@nhs.net").select_related("home")
    written = accounts.values_list(serializers.AccountSerializer.json_row(), flat=True).get()
    serialized = serializers.AccountSerializer(accounts.get()).data
    render = JSONRenderer().render
    assert render({"results": sqljson.RawJSON(f"[{written}]")}) == render({"results": [serialized]})


@pytest.mark.parametrize("url", ["/api/v1/accounts/?page_size=1000", f"/api/v1/homes/{HOME_A}/"])
def test_an_answered_page_is_freed_at_once_not_left_to_the_collector(world, url):
    """A response, its rows and its body go when the server lets go of them: no reference
    cycle keeps them (380 kB for a page of 1,000 accounts) until the garbage collector
    walks its oldest generation."""
    import gc
    import weakref

    from django.test import RequestFactory
    from django.urls import resolve

    request = RequestFactory().get(url, HTTP_AUTHORIZATION=f"Bearer {world['national']}")
    view = resolve(request.path_info)
    gc.disable()
    try:
        response = view.func(request, *view.args, **view.kwargs)
        response.render()
        assert response.status_code == 200
        answered = weakref.ref(response)
        del response
        assert answered() is None
    finally:
        gc.enable()


# The JSON pages written by PostgreSQL (api/sqljson.py) against the serializers' at the
# edges a review tried (indent asked for, edge rows, odd input, a walk back through the
# pages), and the view<->response cycle broken without harm to throttled responses.

pg_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="SQL path is PG only")


def both_paths(monkeypatch, fetch):
    from api import sqljson

    cache.clear()  # each path renders its pages anew, never one the other kept
    by_database = fetch()
    monkeypatch.setattr(sqljson, "available", lambda: False)
    cache.clear()
    by_serializer = fetch()
    monkeypatch.undo()
    return by_database, by_serializer


@pg_only
@pytest.mark.parametrize("accept", ["application/json; indent=2", "application/json; indent=0"])
@pytest.mark.parametrize("url", ["/api/v1/accounts/", "/api/v1/mailboxes/"])
def test_indent_asked_in_accept_header_is_honoured_by_both_paths(world, monkeypatch, accept, url):
    """DRF's JSONRenderer honours `Accept: application/json; indent=N`: the serializer
    path indents every row; the SQL path indents only the envelope."""

    def fetch():
        response = BEARER_CLIENT.get(
            url, HTTP_AUTHORIZATION=f"Bearer {world['national']}", HTTP_ACCEPT=accept
        )
        assert response.status_code == 200
        return response.content

    by_database, by_serializer = both_paths(monkeypatch, fetch)
    assert by_database == by_serializer


@pg_only
def test_edge_rows_agree(world, rosewood, willow, monkeypatch):
    """Edges of days_inactive/as_of: state '' (judged? no), checked_as_of NULL with a state,
    disable date today, no disable date, not yet checked; empty pages, filters, last pages."""
    a = make_account(rosewood, "edge.empty@nhs.net", days_ago=3)
    StaffAccount.objects.filter(pk=a.pk).update(state="", disable_date=TODAY)
    b = make_account(willow, "edge.today@nhs.net", days_ago=90)
    StaffAccount.objects.filter(pk=b.pk).update(state="inactive", disable_date=TODAY)
    c = make_account(willow, "edge.nodate@nhs.net")
    StaffAccount.objects.filter(pk=c.pk).update(state="active", disable_date=None)
    make_account(rosewood, "edge.unjudged@nhs.net", days_ago=1)
    SharedMailbox.objects.create(home=rosewood, email="edge.box@nhs.net", risk="", alive_accounts=0)
    SharedMailbox.objects.create(
        home=willow,
        email="edge.box2@nhs.net",
        risk="healthy",
        alive_accounts=2**31 - 1,
        forecast_date=TODAY,
    )
    urls = [
        "/api/v1/accounts/?page_size=1",
        "/api/v1/accounts/?page_size=0",
        "/api/v1/accounts/?page_size=abc",
        "/api/v1/accounts/?page_size=100000",
        "/api/v1/accounts/?state=deleted",  # empty
        f"/api/v1/accounts/?ods_code={HOME_A.lower()}%20",
        "/api/v1/accounts/?region=%20Leicestershire%20",
        "/api/v1/accounts/?region=Nowhere",
        "/api/v1/accounts/?disable_date_before=2000-01-01",
        "/api/v1/accounts/?format=json&page_size=3",
        "/api/v1/mailboxes/?page_size=1",
        "/api/v1/mailboxes/?risk=healthy",
        "/api/v1/mailboxes/?ods_code=ZZZ99",
    ]
    tokens = [world["national"], world["region_admin"], world["manager"]]

    def fetch():
        return [pages(url, t) for url in urls for t in tokens]

    # A home whose check date is gone while its rows keep a state.
    CareHome.objects.filter(pk=willow.pk).update(checked_as_of=None)
    first = both_paths(monkeypatch, fetch)
    assert first[0] == first[1]
    CareHome.objects.filter(pk=willow.pk).update(checked_as_of=TODAY - timedelta(days=1))
    second = both_paths(monkeypatch, fetch)
    assert second[0] == second[1]


@pg_only
def test_scope_and_odd_input_on_the_sql_path(world):
    manager = world["manager"]
    seen = {
        row["ods_code"]
        for body in pages("/api/v1/accounts/?page_size=1", manager)
        for row in __import__("json").loads(body)["results"]
    }
    assert seen == {HOME_A}
    for cursor in ["zzz", "cD0xMDA%3D", "cD0tMQ%3D%3D", "cj0xJnA9OTk5OTk5OTk5OTk5OTk5OTk5OTk%3D"]:
        response = get(f"/api/v1/accounts/?cursor={cursor}", manager)
        assert response.status_code in (200, 404), (cursor, response.status_code)
    for method in ("head", "options"):
        response = getattr(BEARER_CLIENT, method)(
            "/api/v1/accounts/", HTTP_AUTHORIZATION=f"Bearer {manager}"
        )
        assert response.status_code == 200, method
    assert get("/api/v1/accounts/").status_code == 401
    assert get("/api/v1/accounts/?format=csv").status_code == 401
    assert get("/api/v1/accounts/?format=csv", manager).status_code == 200
    assert get("/api/v1/accounts/?state=nope&format=csv", manager).status_code == 400


@pg_only
def test_throttled_and_rerendered(world, settings):
    settings.API_THROTTLE_RATE = "2/minute"
    codes = [get("/api/v1/accounts/", world["manager"]).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_home_detail_is_what_the_summary_based_view_wrote(
    world, rosewood, rosewood_mailbox, monkeypatch
):
    """HomeDetail before the change read counts/mailboxes from dashboard.summaries."""
    from accounts import dashboard
    from api import figures

    make_account(rosewood, "late.unjudged@nhs.net", days_ago=2, mailboxes=[rosewood_mailbox])
    SharedMailbox.objects.create(home=rosewood, email="aaa.first@nhs.net")
    url = f"/api/v1/homes/{HOME_A}/"
    new = get(url, world["manager"]).content

    def old_counts(home_id):
        summary = dashboard.summaries([CareHome.objects.get(pk=home_id)])[0]
        return summary.counts, summary.accounts

    monkeypatch.setattr(figures, "one_home_counts", old_counts)
    cache.clear()  # rendered anew, not the page kept above
    assert get(url, world["manager"]).content == new


@pg_only
def test_backward_walk_agrees(world, rosewood, monkeypatch):
    import json

    for n in range(7):
        make_account(rosewood, f"walk{n}@nhs.net", days_ago=n * 20)

    def fetch():
        bodies, url = [], "/api/v1/accounts/?page_size=2"
        while url:
            r = get(url, world["region_admin"])
            bodies.append(r.content)
            url = json.loads(r.content)["next"]
        url = json.loads(bodies[-1])["previous"]
        while url:
            r = get(url, world["region_admin"])
            bodies.append(r.content)
            url = json.loads(r.content)["previous"]
        return bodies

    by_database, by_serializer = both_paths(monkeypatch, fetch)
    assert by_database == by_serializer
