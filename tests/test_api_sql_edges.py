"""The JSON pages written by PostgreSQL (api/sqljson.py) against the serializers' at the
edges a review tried (indent asked for, edge rows, odd input, a walk back through the
pages), and the view<->response cycle broken without harm to throttled responses."""

from datetime import timedelta

import pytest
from django.db import connection

from accounts.models import CareHome, SharedMailbox, StaffAccount
from tests.conftest import TODAY, make_account
from tests.test_api import (  # noqa: F401  (fixtures)
    BEARER_CLIENT,
    HOME_A,
    fresh_throttle,
    frozen,
    get,
    pages,
    world,
)

pg_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="SQL path is PG only")


def both_paths(monkeypatch, fetch):
    from api import sqljson

    by_database = fetch()
    monkeypatch.setattr(sqljson, "available", lambda: False)
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
