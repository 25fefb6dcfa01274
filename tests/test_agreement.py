"""Randomised agreement across surfaces: after every step of a random story (checks as of
random dates, manager actions, report imports), the home page, the manager's card, the
download, export_hygiene (CSV and JSON) and the digest say the same about every account,
and no row contradicts itself."""

import csv
import io
import json
import random
import re
from datetime import timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client
from django.urls import reverse, reverse_lazy

from accounts import actions
from accounts.checks import run_check
from accounts.downloads import shown
from accounts.models import CareHome, Notification, SharedMailbox, StaffAccount, User
from accounts.notify import render
from accounts.rules import AccountState, Thresholds

from .conftest import TODAY, make_account

pytestmark = pytest.mark.django_db
THRESHOLDS = Thresholds(90, 60)
EXPECTED_BAND = {
    AccountState.ACTIVE: range(-100_000, 60),  # a check as of a past date sees later log-ins
    AccountState.AT_RISK: range(60, 90),
    AccountState.INACTIVE: range(90, 100_000),
}


def build(rng: random.Random):
    homes = []
    for n in range(3):
        home = CareHome.objects.create(ods_code=f"VR{n}X1", name=f"Home {n}")
        box = SharedMailbox.objects.create(home=home, email=f"home{n}.box@nhs.net")
        for i in range(rng.randint(2, 6)):
            make_account(
                home,
                f"p{n}.{i}@nhs.net",
                days_ago=rng.choice([None, *range(0, 130, 7)]),
                status=rng.choice(["active"] * 6 + ["disabled", "deleted"]),
                mailboxes=[box] if rng.random() < 0.8 else [],
            )
        homes.append(home)
    manager = User.objects.create_user("m@example.org", role=User.Role.MANAGER)
    manager.homes.add(*homes)
    return homes, manager


def export(fmt: str) -> dict:
    out = io.StringIO()
    call_command("export_hygiene", "accounts", "--format", fmt, stdout=out)
    rows = (
        json.loads(out.getvalue()) if fmt == "json" else csv.DictReader(io.StringIO(out.getvalue()))
    )
    # CSV for people writes -3 as '-3 (no cell may start like a formula); JSON keeps -3.
    return {
        row["email"]: {k: ("" if v is None else str(v).removeprefix("'")) for k, v in row.items()}
        for row in rows
    }


def step(rng: random.Random, client: Client, homes, today):
    home = rng.choice(homes)
    accounts = list(StaffAccount.objects.filter(home=home))
    account = rng.choice(accounts)
    kind = rng.choice(["check", "check", "seen", "left", "removal", "import"])
    on = (today - timedelta(days=rng.randint(0, 20))).strftime("%d/%m/%Y")
    if kind == "check":
        run_check(today - timedelta(days=rng.randint(0, 40)))
    elif kind == "import":
        days = rng.randint(0, 120)
        path = io.StringIO()
        path.write("email,ods_code,last_activity\n")
        path.write(
            f"{account.email},{home.ods_code},{(today - timedelta(days=days)).isoformat()}\n"
        )
        return kind, path.getvalue()
    else:
        slug = {"seen": "seen-log-in", "left": "left", "removal": "removal-requested"}[kind]
        url = reverse("account_action", args=[home.ods_code, account.pk, slug])
        # An action that cannot succeed (a log-in seen for a deleted account) is refused.
        refused = actions.refusal(slug, account, linkable_mailboxes=1)
        assert client.post(url, {"on": on}).status_code == (409 if refused else 302)
    return kind, None


CSRF = re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"')
ADMIN_PAGES = [
    reverse_lazy("dashboard"),
    f"{reverse_lazy('dashboard')}?risk=orphaned",
    f"{reverse_lazy('dashboard')}?state=inactive&q=home",
    reverse_lazy("worklist"),
    f"{reverse_lazy('worklist')}?page=2&mailbox_page=2",
]


def kept_pages_agree(pages: list[tuple[Client, str]]) -> dict[str, object]:
    """Each page as kept since the last write (if it is), read before any is rendered anew,
    must say exactly what it says rendered anew: a write that leaves a kept page stale fails
    here. The fresh responses, by URL."""
    kept = [client.get(url).content.decode() for client, url in pages]
    cache.clear()
    fresh = {}
    for (client, url), before in zip(pages, kept, strict=True):
        fresh[str(url)] = client.get(url)
        assert CSRF.sub("", before) == CSRF.sub("", fresh[str(url)].content.decode()), url
    return fresh


def assert_agreement(client: Client, manager, homes, admin_client: Client):
    json_rows, csv_rows = export("json"), export("csv")
    assert json_rows == csv_rows
    download = client.get(reverse("export_download", args=["accounts"]))
    body = b"".join(download.streaming_content).decode("utf-8-sig")
    downloaded = {
        r["Email address"]: {k: v.removeprefix("'") for k, v in r.items()}
        for r in csv.DictReader(io.StringIO(body))
    }
    assert downloaded == {email: for_people(row) for email, row in csv_rows.items()}
    cards = {s.home.pk: s for s in client.get(reverse("dashboard")).context["summaries"]}
    digest_text = render(
        Notification(kind=Notification.Kind.DIGEST, user=manager, recipient=manager.email)
    )[0]
    home_urls = [reverse("home_detail", args=[home.ods_code]) for home in homes]
    pages = [(client, url) for url in home_urls] + [(admin_client, url) for url in ADMIN_PAGES]
    fresh = kept_pages_agree(pages)
    for home, url in zip(homes, home_urls, strict=True):
        page = fresh[url]
        for account in page.context["accounts"]:
            row = csv_rows[account.email]
            shown = {
                "state": account.state or "",
                "days_inactive": "" if account.days is None else str(account.days),
                "disable_date": account.disable_date.isoformat() if account.disable_date else "",
            }
            assert shown == {k: row[k] for k in shown}, account.email
            if row["state"] in EXPECTED_BAND:  # the row agrees with itself
                days, as_of = int(row["days_inactive"]), row["as_of"]
                assert days in EXPECTED_BAND[row["state"]], row
                disable = (
                    account.home.checked_as_of - timedelta(days=days) + timedelta(days=90)
                ).isoformat()
                assert (row["disable_date"], as_of) == (disable, str(account.home.checked_as_of))
        for account in cards[home.pk].to_chase:
            row = csv_rows[account.email]
            assert row["state"] in ("at_risk", "inactive")
            date_text = f"{account.disable_date:%-d %B %Y}"
            assert date_text in digest_text and account.email in digest_text


def _day_first(iso: str) -> str:
    return f"{iso[8:10]}/{iso[5:7]}/{iso[:4]}" if iso else ""


def for_people(row: dict) -> dict:
    """An export_hygiene row as the browser download says it (downloads.py)."""
    return {
        "ODS code": row["ods_code"],
        "Email address": row["email"],
        "Name": row["display_name"],
        "State": AccountState(row["state"]).label if row["state"] else "",
        "Last activity": downloaded_moment(row),
        "Days since last log-in": row["days_inactive"],
        "Disable date": _day_first(row["disable_date"]),
        "As of": _day_first(row["as_of"]),
    }


def downloaded_moment(row: dict) -> str:
    account = StaffAccount.objects.get(email=row["email"])
    return shown(account.last_activity) if account.last_activity else ""


@pytest.mark.parametrize("seed", range(4))
def test_every_surface_agrees_through_a_random_story(seed, tmp_path):
    rng = random.Random(seed)
    with time_machine.travel(TODAY, tick=False):
        homes, manager = build(rng)
        client, admin_client = Client(), Client()
        client.force_login(manager)
        admin_client.force_login(User.objects.create_user("a@example.org", role="admin"))
        run_check(TODAY - timedelta(days=rng.randint(0, 30)))
        assert_agreement(client, manager, homes, admin_client)
        for _ in range(8):
            kind, report = step(rng, client, homes, TODAY)
            if report:
                path = tmp_path / "report.csv"
                path.write_text(report)
                call_command("import_accounts", str(path), stdout=io.StringIO())
            assert_agreement(client, manager, homes, admin_client)
