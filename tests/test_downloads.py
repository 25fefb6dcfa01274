"""Downloads people open in Excel, and an accounts download imported again."""

import csv
import io
from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse

from accounts.checks import run_check
from accounts.imports.engine import run_import
from accounts.models import StaffAccount
from accounts.rules import AccountState, MailboxRisk
from tests.conftest import TODAY, at_london, make_account


@pytest.fixture
def staff(rosewood, rosewood_mailbox):
    make_account(rosewood, "amy.adams@nhs.net", days_ago=5, mailboxes=[rosewood_mailbox])
    make_account(rosewood, "bob.brown@nhs.net", days_ago=70, mailboxes=[rosewood_mailbox])
    make_account(rosewood, "cal.cole@nhs.net", days_ago=120)
    make_account(rosewood, "dee.dent@nhs.net", days_ago=30, status="disabled")
    make_account(rosewood, "eve.east@nhs.net", days_ago=30, status="deleted")
    make_account(rosewood, "fay.ford@nhs.net", days_ago=30, status="leaver")
    make_account(rosewood, "gus.gray@nhs.net")  # never used
    run_check(TODAY)


def download(client, url, **params):
    response = client.get(url, params)
    text = b"".join(response.streaming_content).decode("utf-8")
    return response, text


def test_accounts_download_is_for_people(client, superuser, staff):
    client.force_login(superuser)
    response, text = download(client, reverse("export_download", args=["accounts"]))
    assert response["Content-Disposition"] == (
        f'attachment; filename="nhsmail-accounts-as-of-{TODAY:%Y-%m-%d}.csv"'
    )
    assert text.startswith("\ufeffODS code,Email address,Name,State,Last activity,")
    assert "Days since last log-in" in text.splitlines()[0]
    rows = {r["Email address"]: r for r in csv.DictReader(io.StringIO(text[1:]))}
    bob = rows["bob.brown@nhs.net"]
    assert bob["State"] == AccountState.AT_RISK.label
    assert bob["Last activity"] == f"{TODAY - timedelta(days=70):%d/%m/%Y} 10:00:00"
    assert bob["Days since last log-in"] == "70"
    assert bob["Disable date"] == f"{TODAY + timedelta(days=20):%d/%m/%Y}"
    assert bob["As of"] == f"{TODAY:%d/%m/%Y}"
    assert {r["State"] for r in rows.values()} == {s.label for s in AccountState}


def test_mailbox_and_homes_downloads_are_for_people(client, superuser, staff):
    client.force_login(superuser)
    response, text = download(client, reverse("export_download", args=["mailboxes"]))
    assert response["Content-Disposition"].endswith(f'as-of-{TODAY:%Y-%m-%d}.csv"')
    assert text.splitlines() == [
        "\ufeffODS code,Email address,Risk,People who can open it,At risk from,As of",
        f"VM4Q7,rosewood.carehome@nhs.net,{MailboxRisk.HEALTHY.label},2,"
        f"{TODAY + timedelta(days=85):%d/%m/%Y},{TODAY:%d/%m/%Y}",
    ]
    response, text = download(client, reverse("dashboard_csv"))
    assert response["Content-Disposition"] == (
        f'attachment; filename="homes-by-risk-as-of-{TODAY:%Y-%m-%d}.csv"'
    )
    assert text.splitlines() == [
        "\ufeffODS code,Name,Region,Worst risk,Soonest at risk",
        f"VM4Q7,Rosewood Care Home,Leicestershire,{MailboxRisk.HEALTHY.label},"
        f"{TODAY + timedelta(days=85):%d/%m/%Y}",
    ]


def test_export_hygiene_keeps_the_contracts_columns(staff):
    from django.core.management import call_command

    out = io.StringIO()
    call_command("export_hygiene", "accounts", "--format", "csv", stdout=out)
    assert out.getvalue().startswith("ods_code,email,display_name,state,last_activity,")
    assert ",at_risk," in out.getvalue()


def test_an_accounts_download_imports_again_and_changes_nothing(client, superuser, staff, tmp_path):
    client.force_login(superuser)
    _, text = download(client, reverse("export_download", args=["accounts"]))
    before = list(StaffAccount.objects.order_by("email").values())
    path = tmp_path / "nhsmail-accounts.csv"
    path.write_text(text, encoding="utf-8")
    with time_machine.travel(at_london(TODAY), tick=False):  # the import rechecks as of today
        result = run_import("accounts", path)
    assert result.error_lines() == []
    assert (result.rows, result.created, result.updated, result.unchanged) == (7, 0, 0, 7)
    assert list(StaffAccount.objects.order_by("email").values()) == before


@pytest.mark.parametrize(
    "state, status",
    [
        (AccountState.DISABLED, "disabled"),
        (AccountState.DELETED, "deleted"),
        (AccountState.LEFT, "leaver"),
        (AccountState.ACTIVE, "active"),
        (AccountState.AT_RISK, "active"),
        (AccountState.INACTIVE, "active"),
    ],
)
def test_an_edited_download_says_states_in_words(client, superuser, staff, tmp_path, state, status):
    client.force_login(superuser)
    _, text = download(client, reverse("export_download", args=["accounts"]))
    rows = list(csv.DictReader(io.StringIO(text[1:])))
    for row in rows:
        if row["Email address"] == "dee.dent@nhs.net":  # disabled in the download
            row["State"] = state.label
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    path = tmp_path / "edited.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    assert run_import("accounts", path).error_lines() == []
    assert StaffAccount.objects.get(email="dee.dent@nhs.net").reported_status == status


def test_a_defused_name_reads_back_as_it_was(db, rosewood, tmp_path):
    from accounts.imports.specs import text_field

    read = text_field(200)
    assert read("'-Amy Adams") == "-Amy Adams"
    assert read("'=SUM(A1)") == "=SUM(A1)"
    assert read("'Tis Amy") == "'Tis Amy"  # an apostrophe of the name itself stays
