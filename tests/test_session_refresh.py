"""Sessions end after 8 idle hours, without a session write on every request."""

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

START = "2026-11-30 08:00 +00:00"


def _signed_in(client) -> bool:
    response = client.get("/dashboard/")
    return response.status_code == 200


def _session_writes(client, url="/dashboard/") -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return sum(
        1
        for q in queries.captured_queries
        if "django_session" in q["sql"]
        and q["sql"].lstrip().upper().startswith(("UPDATE", "INSERT"))
    )


@pytest.mark.django_db
def test_pages_within_the_refresh_interval_write_no_session(client, admin_user):
    with time_machine.travel(START, tick=False) as clock:
        client.force_login(admin_user)
        clock.shift(timedelta(seconds=settings.SESSION_REFRESH_SECONDS))
        assert _session_writes(client) == 1  # the first page after the interval refreshes
        clock.shift(timedelta(minutes=1))
        assert _session_writes(client) == 0
        assert _session_writes(client) == 0


@pytest.mark.django_db
def test_a_session_ends_after_8_idle_hours(client, admin_user):
    with time_machine.travel(START, tick=False) as clock:
        client.force_login(admin_user)
        assert _signed_in(client)
        clock.shift(timedelta(hours=8, seconds=1))
        assert not _signed_in(client)


@pytest.mark.django_db
def test_an_active_session_lives_past_8_hours_and_idles_out_8_hours_after(client, admin_user):
    refresh = timedelta(seconds=settings.SESSION_REFRESH_SECONDS)
    with time_machine.travel(START, tick=False) as clock:
        client.force_login(admin_user)
        for _ in range(10 * 6):  # a page every 10 minutes for 10 hours
            clock.shift(timedelta(minutes=10))
            assert _signed_in(client)
        # Idle for 8 hours less the refresh interval: still signed in...
        clock.shift(timedelta(hours=8) - refresh - timedelta(seconds=1))
        assert _signed_in(client)
        # ...and 8 idle hours after that page, signed out.
        clock.shift(timedelta(hours=8, seconds=1))
        assert not _signed_in(client)


@pytest.mark.django_db
def test_a_shorter_refresh_interval_writes_sooner(client, admin_user, settings):
    settings.SESSION_REFRESH_SECONDS = 30
    with time_machine.travel(START, tick=False) as clock:
        client.force_login(admin_user)
        clock.shift(timedelta(seconds=31))
        assert _session_writes(client) == 1


@pytest.mark.django_db
def test_the_first_page_after_signing_in_writes_no_session(client, admin_user):
    with time_machine.travel(START, tick=False) as clock:
        client.force_login(admin_user)
        assert _session_writes(client) == 0
        clock.shift(timedelta(minutes=1))
        assert _session_writes(client) == 0
