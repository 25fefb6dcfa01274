"""One rule for dates no account can have (rules.date_problem), applied on every input."""

from datetime import date, timedelta

import pytest
import time_machine
from django.urls import reverse

from accounts.models import StaffAccount
from accounts.rules import date_problem

from .conftest import make_account
from .test_imports import ACCOUNTS, run, write  # noqa: F401  (fixture)

TODAY = date(2026, 11, 29)


@pytest.mark.parametrize(
    "on, problem",
    [
        (TODAY, None),
        (TODAY + timedelta(days=1), None),
        (TODAY + timedelta(days=2), "is in the future"),
        (date(9999, 12, 31), "is in the future"),
        (date(1990, 1, 1), None),
        (date(1989, 12, 31), "is before 1 January 1990"),
    ],
)
def test_date_problem(on, problem):
    assert date_problem(on, today=TODAY) == problem


@time_machine.travel("2026-11-29 12:00 +00:00", tick=False)
@pytest.mark.parametrize(
    "column, cell, message",
    [
        ("last_activity", "01/01/2031", "line 2: last_activity: '01/01/2031' is in the future"),
        ("last_activity", "9999-12-31", "line 2: last_activity: '9999-12-31' is in the future"),
        ("created", "2026-12-01", "line 2: created: '2026-12-01' is in the future"),
        ("created", "31/12/1989", "line 2: created: '31/12/1989' is before 1 January 1990"),
    ],
)
def test_import_refuses_impossible_dates(rosewood, write, column, cell, message):  # noqa: F811
    cells = {"last_activity": "", "created": ""} | {column: cell}
    path = write(
        ACCOUNTS + f"amy@nhs.net,VM4Q7,Amy,active,{cells['last_activity']},{cells['created']},\n"
    )
    code, _, err = run("accounts", path)
    assert code != 0
    assert message in err
    assert not StaffAccount.objects.exists()


@time_machine.travel("2026-11-29 12:00 +00:00", tick=False)
def test_import_accepts_tomorrow_and_today(rosewood, write):  # noqa: F811
    path = write(ACCOUNTS + "amy@nhs.net,VM4Q7,Amy,active,2026-11-30T08:00:00,2026-11-29,\n")
    code, _, err = run("accounts", path)
    assert code == 0, err
    assert StaffAccount.objects.get().last_activity_date == date(2026, 11, 30)


@time_machine.travel("2026-11-29 12:00 +00:00", tick=False)
def test_manager_cannot_enter_a_date_before_1990(client, manager, rosewood):
    account = make_account(rosewood, "amy@nhs.net", days_ago=10, as_of=TODAY)
    client.force_login(manager)
    url = reverse("account_action", args=[rosewood.ods_code, account.pk, "seen-log-in"])
    response = client.post(url, {"on": "31/12/1989"})
    assert response.status_code == 200
    assert "The date is before 1 January 1990." in response.content.decode()
    account.refresh_from_db()
    assert account.attested_on is None


@time_machine.travel("2026-11-29 12:00 +00:00", tick=False)
def test_the_admin_cannot_store_a_date_that_would_break_pages(client, superuser, rosewood):
    account = make_account(rosewood, "amy@nhs.net", days_ago=10, as_of=TODAY)
    client.force_login(superuser)
    url = reverse("admin:accounts_staffaccount_change", args=[account.pk])
    form = client.get(url).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and not isinstance(v, list)}
    data.update(
        home=rosewood.pk,
        email="amy@nhs.net",
        reported_status="active",
        first_recorded="2026-11-01",
        left_on="9999-12-31",
        reminders_opt_out="",
    )
    response = client.post(url, data)
    assert response.status_code == 200
    assert "is in the future" in response.content.decode()
    account.refresh_from_db()
    assert account.left_on is None
