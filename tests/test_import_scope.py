"""Imports write only within the uploader's scope (issue 13, items 1, 10 and 11): a region's
admin cannot reach another region's homes, mailboxes or people through a file, and learns
nothing about them from the errors."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

from accounts.models import (
    CareHome,
    ImportRecord,
    MailboxLink,
    Region,
    SharedMailbox,
    StaffAccount,
    User,
)
from accounts.tasks import import_file
from tests.conftest import PASSWORD, make_account

HOMES = "ods_code,name,region\n"
MAILBOXES = "ods_code,email\n"
ACCOUNTS = "email,ods_code,shared_mailboxes\n"


@pytest.fixture
def leicester_admin(rosewood):
    """Limited to Rosewood's region (Leicestershire); Willow Court is in Yorkshire."""
    user = User.objects.create_user("lee.admin@example.org", PASSWORD, role=User.Role.ADMIN)
    user.regions.add(rosewood.region)
    return user


@pytest.fixture
def willow_people(willow, willow_mailbox):
    return make_account(willow, "wendy@nhs.net", days_ago=3, mailboxes=[willow_mailbox])


def command(kind, tmp_path, text, *flags):
    path = tmp_path / f"{kind}.csv"
    path.write_text(text)
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(f"import_{kind}", str(path), *flags, stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue(), err.getvalue()


def upload_and_confirm(client, kind, text, skip=False):
    """The portal's way: upload, read the preview, confirm. Returns the preview's text."""
    page = client.post(
        reverse("import_new"),
        {"kind": kind, "file": SimpleUploadedFile("f.csv", text.encode(), "text/csv")},
    )
    assert page.status_code == 302, page.content.decode()[:500]
    preview = client.get(page.url).content.decode()
    token = page.url.rstrip("/").split("/")[-1]
    client.post(reverse("import_confirm", args=[token]), {"skip_bad_rows": "on"} if skip else {})
    return preview


# ---------------------------------------------------------------------------------------
# The three leaks the probe found, through the portal


def test_a_region_admin_cannot_pull_another_regions_home_into_theirs(
    client, leicester_admin, willow, willow_people
):
    client.force_login(leicester_admin)
    preview = upload_and_confirm(client, "homes", HOMES + "VN8P2,Mine Now,Leicestershire\n")
    assert "Line 2, ODS code: VN8P2 is not one of your homes" in preview
    assert "1 updated" not in preview
    willow.refresh_from_db()
    assert (willow.name, willow.region.name) == ("Willow Court", "Yorkshire")
    assert client.get("/homes/VN8P2/").status_code == 404
    assert ImportRecord.objects.exclude(outcome="dry_run").get().outcome == "failed"


def test_a_region_admin_cannot_move_another_regions_people_into_their_home(
    client, leicester_admin, rosewood, willow_people
):
    client.force_login(leicester_admin)
    preview = upload_and_confirm(client, "accounts", ACCOUNTS + "wendy@nhs.net,VM4Q7,\n")
    assert "Line 2, Email address: this address is not in one of your homes" in preview
    willow_people.refresh_from_db()
    assert willow_people.home.ods_code == "VN8P2"
    assert MailboxLink.objects.filter(account=willow_people).exists()


def test_errors_say_nothing_about_another_regions_homes(
    client, leicester_admin, rosewood, willow_people
):
    """A mailbox or home of another region reads exactly like one that does not exist, and
    an address used elsewhere gets one wording, with no home named."""
    client.force_login(leicester_admin)
    text = (
        ACCOUNTS
        + "new.one@nhs.net,VM4Q7,willow.court@nhs.net\n"
        + "new.two@nhs.net,VM4Q7,nobody.box@nhs.net\n"
        + "new.three@nhs.net,VN8P2,\n"
        + "new.four@nhs.net,ZZ999,\n"
    )
    preview = upload_and_confirm(client, "accounts", text)
    assert "Line 2, Shared mailboxes: no shared mailbox willow.court@nhs.net (import" in preview
    assert "Line 3, Shared mailboxes: no shared mailbox nobody.box@nhs.net (import" in preview
    assert "Line 4, ODS code: VN8P2 is not one of your homes" in preview
    assert "Line 5, ODS code: ZZ999 is not one of your homes" in preview
    assert "belongs to another home" not in preview and "Willow" not in preview
    assert not StaffAccount.objects.filter(email__startswith="new.").exists()


def test_mailboxes_of_another_region_are_out_of_reach(
    client, leicester_admin, rosewood, willow_mailbox
):
    client.force_login(leicester_admin)
    text = MAILBOXES + "VM4Q7,willow.court@nhs.net\nVN8P2,another.box@nhs.net\n"
    preview = upload_and_confirm(client, "mailboxes", text)
    assert "Line 2, Shared mailbox address: this address is not in one of your homes" in preview
    assert "Line 3, ODS code: VN8P2 is not one of your homes" in preview
    willow_mailbox.refresh_from_db()
    assert willow_mailbox.home.ods_code == "VN8P2"
    assert SharedMailbox.objects.count() == 1


def test_within_their_region_a_region_admin_imports_as_before(
    client, leicester_admin, rosewood, rosewood_mailbox, willow_people
):
    client.force_login(leicester_admin)
    preview = upload_and_confirm(
        client, "accounts", ACCOUNTS + "amy@nhs.net,VM4Q7,rosewood.carehome@nhs.net\n"
    )
    assert "1 created, 0 updated, 0 unchanged, 0 with errors" in preview
    amy = StaffAccount.objects.get(email="amy@nhs.net")
    assert amy.home == rosewood and list(amy.mailboxes.all()) == [rosewood_mailbox]


def test_skipping_bad_rows_writes_only_the_rows_in_scope(
    client, leicester_admin, rosewood, willow_people
):
    client.force_login(leicester_admin)
    upload_and_confirm(
        client, "accounts", ACCOUNTS + "amy@nhs.net,VM4Q7,\nwendy@nhs.net,VM4Q7,\n", skip=True
    )
    assert set(StaffAccount.objects.values_list("email", "home__ods_code")) == {
        ("amy@nhs.net", "VM4Q7"),
        ("wendy@nhs.net", "VN8P2"),
    }


# ---------------------------------------------------------------------------------------
# Regions: only an admin for every region moves homes between them


def test_moving_a_home_to_another_region_is_for_admins_of_every_region(
    client, leicester_admin, admin_user, rosewood, willow
):
    client.force_login(leicester_admin)
    preview = upload_and_confirm(client, "homes", HOMES + "VM4Q7,Rosewood,Yorkshire\n")
    assert (
        "Line 2, Region: only an admin for every region can move a home to another region"
        in preview
    )
    rosewood.refresh_from_db()
    assert rosewood.region.name == "Leicestershire"
    client.force_login(admin_user)  # not limited to regions
    upload_and_confirm(client, "homes", HOMES + "VM4Q7,Rosewood,Yorkshire\n")
    rosewood.refresh_from_db()
    assert rosewood.region.name == "Yorkshire"


def test_a_region_admin_adds_homes_only_to_their_regions(client, leicester_admin, rosewood, willow):
    client.force_login(leicester_admin)
    text = HOMES + "NEW01,One,Yorkshire\nNEW02,Two,\nNEW03,Three,Mars\nNEW04,Four,Leicestershire\n"
    preview = upload_and_confirm(client, "homes", text, skip=True)
    assert "Line 2, Region: is not one of your regions" in preview
    assert "Line 3, Region: is empty: a home you add must be in one of your regions" in preview
    assert "Line 4, Region: is not one of your regions" in preview
    assert list(CareHome.objects.filter(ods_code__startswith="NEW").values_list("ods_code")) == [
        ("NEW04",)
    ]
    assert not Region.objects.filter(name="Mars").exists()
    # The same row keeping its own region, or leaving it blank, is no move.
    upload_and_confirm(client, "homes", HOMES + "VM4Q7,Rosewood House,Leicestershire\n")
    upload_and_confirm(client, "homes", HOMES + "VM4Q7,Rosewood Hall,\n")
    rosewood.refresh_from_db()
    assert (rosewood.name, rosewood.region.name) == ("Rosewood Hall", "Leicestershire")


def test_an_upload_whose_uploader_is_gone_writes_nothing(
    client, leicester_admin, rosewood, settings
):
    settings.UPLOAD_DIR.mkdir(exist_ok=True)
    path = settings.UPLOAD_DIR / ("ab" * 16 + ".csv")
    path.write_text(ACCOUNTS + "amy@nhs.net,VM4Q7,\n")
    record_id = import_file.apply(args=["accounts", str(path), 987654, False, "late.csv"]).get()
    record = ImportRecord.objects.get(pk=record_id)
    assert record.outcome == "failed"
    assert "line 2: ods_code: VM4Q7 is not one of your homes" in record.errors
    assert not StaffAccount.objects.exists()


# ---------------------------------------------------------------------------------------
# The command line: --as applies a user's scope; operators without it stay unscoped


def test_import_as_a_region_admin_applies_their_scope(
    tmp_path, leicester_admin, rosewood, willow, willow_people
):
    code, out, err = command(
        "homes",
        tmp_path,
        HOMES + "VN8P2,Mine Now,Leicestershire\n",
        "--as",
        "LEE.ADMIN@example.org",
    )
    assert code == 1 and "line 2: ods_code: VN8P2 is not one of your homes" in err
    code, out, err = command(
        "accounts", tmp_path, ACCOUNTS + "wendy@nhs.net,VM4Q7,\n", "--as", leicester_admin.email
    )
    assert code == 1 and "line 2: email: this address is not in one of your homes" in err
    code, out, err = command(
        "mailboxes", tmp_path, MAILBOXES + "VN8P2,x.box@nhs.net\n", "--as", leicester_admin.email
    )
    assert code == 1 and "line 2: ods_code: VN8P2 is not one of your homes" in err
    willow.refresh_from_db()
    assert willow.name == "Willow Court" and willow_people.home_id == willow.pk
    record = ImportRecord.objects.order_by("-pk").first()
    assert record.user == leicester_admin


def test_import_as_a_manager_reaches_only_their_homes(tmp_path, manager, rosewood, willow):
    code, out, err = command(
        "accounts", tmp_path, ACCOUNTS + "amy@nhs.net,VM4Q7,\nbob@nhs.net,VN8P2,\n",
        "--as", manager.email, "--skip-bad-rows",
    )  # fmt: skip
    assert code == 1 and "line 3: ods_code: VN8P2 is not one of your homes" in err
    assert list(StaffAccount.objects.values_list("email", flat=True)) == ["amy@nhs.net"]
    code, out, err = command("homes", tmp_path, HOMES + "NEW01,New,\n", "--as", manager.email)
    assert code == 1 and "line 2: region: is empty: a home you add must be in one" in err


def test_import_as_an_unknown_user_is_refused(tmp_path, rosewood):
    code, out, err = command(
        "accounts", tmp_path, ACCOUNTS + "amy@nhs.net,VM4Q7,\n", "--as", "x@y.org"
    )
    assert code == 2 and "--as: no active portal user x@y.org" in err
    assert not StaffAccount.objects.exists() and not ImportRecord.objects.exists()


def test_an_operator_without_as_may_import_anything(tmp_path, rosewood, willow_people):
    code, out, err = command("homes", tmp_path, HOMES + "VN8P2,Willow,Leicestershire\n")
    assert code == 0, err
    assert CareHome.objects.get(ods_code="VN8P2").region.name == "Leicestershire"


# ---------------------------------------------------------------------------------------
# Files that are obviously wrong, and cells that are far too long


def test_more_accounts_for_one_home_than_the_setting_allows(tmp_path, rosewood, willow, settings):
    settings.MAX_ACCOUNTS_PER_HOME = 3
    rows = "".join(f"p{n}@nhs.net,VM4Q7,\n" for n in range(5)) + "w@nhs.net,VN8P2,\n"
    code, out, err = command("accounts", tmp_path, ACCOUNTS + rows, "--skip-bad-rows")
    assert code == 1
    assert (
        "line 5: ods_code: more than 3 accounts for one care home (VM4Q7) in this file: "
        "is this the right file? None of this home's rows are imported" in err
    )
    assert err.count("more than 3 accounts") == 1
    assert "Skipped lines: 2, 3, 4, 5, 6" in err
    assert list(StaffAccount.objects.values_list("email", flat=True)) == ["w@nhs.net"]


def test_the_cap_defaults_to_5000_accounts_per_home(tmp_path, rosewood, settings):
    assert settings.MAX_ACCOUNTS_PER_HOME == 5000
    rows = "".join(f"p{n}@nhs.net,VM4Q7,\n" for n in range(5001))
    code, out, err = command("accounts", tmp_path, ACCOUNTS + rows, "--dry-run")
    assert code == 1 and "line 5002: ods_code: more than 5,000 accounts for one care home" in err


def test_error_messages_echo_at_most_60_characters_of_a_cell(client, admin_user, rosewood):
    huge = "x" * 130_000 + "@nhs.net"
    client.force_login(admin_user)
    text = ACCOUNTS + "".join(f"{huge},VM4Q7,\n" for _ in range(20)) + "amy@nhs.net,VM4Q7,\n"
    page = client.post(
        reverse("import_new"),
        {"kind": "accounts", "file": SimpleUploadedFile("big.csv", text.encode(), "text/csv")},
    )
    preview = client.get(page.url).content.decode()
    assert f"Line 2, Email address: &#x27;{'x' * 60}…&#x27; is not a valid email address" in preview
    assert len(preview) < 60_000, len(preview)


@pytest.mark.parametrize(
    "column, cell, message",
    [
        ("ods_code", "Q" * 500, f"'{'Q' * 60}…' is not a valid ODS code"),
        ("status", "s" * 500, f"'{'s' * 60}…' is not a status"),
        ("last_activity", "9" * 500, f"'{'9' * 60}…' is not a date"),
    ],
)
def test_every_echoed_cell_is_cut_short(tmp_path, rosewood, column, cell, message):
    row = {"email": "amy@nhs.net", "ods_code": "VM4Q7", "status": "", "last_activity": ""}
    row[column] = cell
    text = ",".join(row) + "\n" + ",".join(row.values()) + "\n"
    code, out, err = command("accounts", tmp_path, text)
    assert code == 1 and f"line 2: {column}: {message}" in err
    assert max(len(line) for line in err.splitlines()) < 300
