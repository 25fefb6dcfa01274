import io
from datetime import date

import pytest
from django.core.management import call_command

from accounts.models import CareHome, ImportRecord, MailboxLink, Region, SharedMailbox, StaffAccount

HOMES = "ods_code,name,registered_landline,cqc_location_id,region\n"
ACCOUNTS = "email,ods_code,display_name,status,last_activity,created,shared_mailboxes\n"


def run(kind, path, *flags):
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(f"import_{kind}", str(path), *flags, stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def write(tmp_path):
    def write(text, name="file.csv", encoding="utf-8"):
        path = tmp_path / name
        path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
        return path

    return write


@pytest.fixture
def rosewood_boxes(rosewood, willow):
    SharedMailbox.objects.create(home=rosewood, email="rosewood.carehome@nhs.net")
    SharedMailbox.objects.create(home=rosewood, email="rosewood.office@nhs.net")
    SharedMailbox.objects.create(home=willow, email="willow.court@nhs.net")


def test_homes_with_aliases_bom_and_regions(db, write):
    path = write(
        "\ufeffOrg Code, Care Home Name ,Telephone,CQC ID,Local Authority\n"
        " vm4q7 ,Rosewood Care Home,0116 496 0000,1-123,Leicestershire\n"
        "VN8P2,Willow Court,,,Yorkshire\n"
    )
    code, out, err = run("homes", path)
    assert code == 0, err
    assert "2 were created, 0 updated, 0 unchanged, 0 skipped" in out
    home = CareHome.objects.get(ods_code="VM4Q7")
    assert (home.name, home.registered_landline, home.cqc_location_id) == (
        "Rosewood Care Home",
        "0116 496 0000",
        "1-123",
    )
    assert home.region.name == "Leicestershire"
    assert Region.objects.count() == 2


def test_windows_1252_file_from_excel(db, write):
    path = write(HOMES + "VM4Q7,Café Rosé – Home,,,\n", encoding="cp1252")
    code, out, _ = run("homes", path)
    assert code == 0 and "(cp1252)" in out
    assert CareHome.objects.get().name == "Café Rosé – Home"


def test_reimport_updates_by_key_and_leaves_absent_rows(db, write):
    run("homes", write(HOMES + "VM4Q7,Rosewood,0116 1,,\nVN8P2,Willow,,,\n"))
    code, out, _ = run("homes", write(HOMES + "vm4q7,Rosewood House,,,\nAB123,New Home,,,\n"))
    assert code == 0
    assert "1 were created, 1 updated, 0 unchanged" in out
    assert CareHome.objects.get(ods_code="VM4Q7").name == "Rosewood House"
    assert CareHome.objects.get(ods_code="VM4Q7").registered_landline == "0116 1"  # blank keeps
    assert CareHome.objects.filter(ods_code="VN8P2").exists()
    code, out, _ = run("homes", write(HOMES + "VM4Q7,Rosewood House,,,\n"))
    assert "0 were created, 0 updated, 1 unchanged" in out


def test_accounts_with_every_date_form_and_links(rosewood_boxes, write):
    path = write(
        ACCOUNTS
        + "Amy@NHS.net,vm4q7,Amy,active,2026-03-29,,rosewood.carehome@nhs.net;ROSEWOOD.OFFICE@nhs.net\n"
        + "ben@nhs.net,VM4Q7,Ben,Disabled,2026-03-29T00:30:00Z,01/02/2025,rosewood.carehome@nhs.net\n"
        + "cat@nhs.net,VM4Q7,Cat,LEAVER,2026-07-01T23:30:00+00:00,,\n"
        + "dev@nhs.net,VM4Q7,Dev,,29/03/2026,,\n"
        + "eve@nhs.net,VM4Q7,Eve,deleted,29/03/2026 23:15:10,,\n"
        + "fay@nhs.net,VM4Q7,Fay,,,,\n"
    )
    code, out, err = run("accounts", path)
    assert code == 0, err
    assert "6 were created" in out and "mailbox links: 3 added" in out
    accounts = {a.email: a for a in StaffAccount.objects.all()}
    assert accounts["amy@nhs.net"].last_activity_date == date(2026, 3, 29)
    assert accounts["ben@nhs.net"].reported_status == "disabled"
    assert accounts["ben@nhs.net"].first_recorded == date(2025, 2, 1)
    assert accounts["cat@nhs.net"].reported_status == "leaver"
    assert accounts["cat@nhs.net"].last_activity_date == date(2026, 7, 2)  # London date
    assert accounts["eve@nhs.net"].last_activity_date == date(2026, 3, 29)
    assert accounts["fay@nhs.net"].last_activity is None
    assert set(accounts["amy@nhs.net"].mailboxes.values_list("email", flat=True)) == {
        "rosewood.carehome@nhs.net",
        "rosewood.office@nhs.net",
    }


def test_links_are_replaced_by_the_files_list(rosewood_boxes, write):
    run(
        "accounts",
        write(
            ACCOUNTS
            + "amy@nhs.net,VM4Q7,Amy,,,,rosewood.carehome@nhs.net;rosewood.office@nhs.net\n"
        ),
    )
    code, out, _ = run(
        "accounts", write(ACCOUNTS + "amy@nhs.net,VM4Q7,Amy,,,,rosewood.office@nhs.net\n")
    )
    assert code == 0 and "mailbox links: 0 added, 1 removed" in out
    assert list(MailboxLink.objects.values_list("mailbox__email", flat=True)) == [
        "rosewood.office@nhs.net"
    ]


def test_a_mailbox_named_twice_or_on_a_skipped_duplicate_line_is_linked_once(rosewood_boxes, write):
    """The links INSERT has no DISTINCT: a row's list holds each mailbox once, and a line
    repeating an email is skipped (with --skip-bad-rows) with its links."""
    code, out, _ = run(
        "accounts",
        write(
            ACCOUNTS
            + "amy@nhs.net,VM4Q7,Amy,,,,rosewood.carehome@nhs.net;ROSEWOOD.carehome@nhs.net\n"
            + "AMY@nhs.net,VM4Q7,Amy,,,,rosewood.carehome@nhs.net\n"
        ),
        "--skip-bad-rows",
    )
    assert code != 0 and "mailbox links: 1 added, 0 removed" in out
    assert list(MailboxLink.objects.values_list("account__email", "mailbox__email")) == [
        ("amy@nhs.net", "rosewood.carehome@nhs.net")
    ]


@pytest.mark.parametrize(
    "row, message",
    [
        (
            "amy@nhs.net,VM4Q7,Amy,,31/02/2026,,",
            "line 2: last_activity: '31/02/2026' is not a valid date",
        ),
        (
            "amy@nhs.net,VM4Q7,Amy,,03/29/2026,,",
            "line 2: last_activity: '03/29/2026' is not a valid date: dates are DD/MM/YYYY",
        ),
        (  # an offset that takes the date past year 1 (was an OverflowError: a 500)
            "amy@nhs.net,VM4Q7,Amy,,0001-01-01T00:00:00+05:00,,",
            "line 2: last_activity: '0001-01-01T00:00:00+05:00' is not a valid date (out of range)",
        ),
        (
            "amy@nhs.net,VM4Q7,Amy,,,9999-12-31T23:00:00-05:00,",
            "line 2: created: '9999-12-31T23:00:00-05:00' is not a valid date (out of range)",
        ),
        ("amy@nhs.net,V-1,Amy,,,,", "line 2: ods_code: 'V-1' is not a valid ODS code"),
        ("amy@nhs.net,ZZ999,Amy,,,,", "line 2: ods_code: no care home with ODS code ZZ999"),
        (
            "amy@nhs.net,VM4Q7,Amy,,,,nobody@nhs.net",
            "line 2: shared_mailboxes: no shared mailbox nobody@nhs.net",
        ),
        (
            "amy@nhs.net,VM4Q7,Amy,,,,willow.court@nhs.net",
            "line 2: shared_mailboxes: willow.court@nhs.net belongs to another home (VN8P2), not VM4Q7",
        ),
        ("amy@nhs.net,VM4Q7,Amy,suspended,,,", "line 2: status: 'suspended' is not a status"),
        (
            "not-an-email,VM4Q7,Amy,,,,",
            "line 2: email: 'not-an-email' is not a valid email address",
        ),
        (",VM4Q7,Amy,,,,", "line 2: email: is empty; it is required"),
        ("amy@nhs.net,VM4Q7,Amy", "line 2: row: has 3 fields; the header has 7"),
    ],
)
def test_bad_rows_are_named_and_nothing_is_written(rosewood_boxes, write, row, message):
    path = write(ACCOUNTS + row + "\nok@nhs.net,VM4Q7,Ok,,,,\n")
    code, out, err = run("accounts", path)
    assert code == 1
    assert message in err
    assert "Nothing was written" in err
    assert not StaffAccount.objects.exists()
    assert ImportRecord.objects.get().outcome == "failed"


def test_duplicate_email_names_both_lines(rosewood_boxes, write):
    path = write(
        ACCOUNTS
        + "amy@nhs.net,VM4Q7,Amy,,,,\nbob@nhs.net,VM4Q7,Bob,,,,\nAMY@nhs.net,VM4Q7,Amy 2,,,,\n"
    )
    code, _, err = run("accounts", path)
    assert code == 1 and "line 4: email: amy@nhs.net is already on line 2" in err
    assert not StaffAccount.objects.exists()


def test_skip_bad_rows_writes_the_good_ones_and_lists_the_rest(rosewood_boxes, write):
    path = write(
        ACCOUNTS
        + "amy@nhs.net,VM4Q7,Amy,,,,\nbad,VM4Q7,,,,,\nbob@nhs.net,ZZ999,Bob,,,,\ncat@nhs.net,VM4Q7,Cat,,,,\n"
    )
    code, out, err = run("accounts", path, "--skip-bad-rows")
    assert code == 1
    assert "2 were created, 0 updated, 0 unchanged, 2 skipped" in out
    assert "Skipped lines: 3, 4" in err
    assert set(StaffAccount.objects.values_list("email", flat=True)) == {
        "amy@nhs.net",
        "cat@nhs.net",
    }
    assert ImportRecord.objects.get().outcome == "partial"


def test_dry_run_reports_exact_counts_and_writes_nothing(rosewood_boxes, write):
    run("accounts", write(ACCOUNTS + "amy@nhs.net,VM4Q7,Amy,,,,\n"))
    code, out, _ = run(
        "accounts",
        write(ACCOUNTS + "amy@nhs.net,VM4Q7,Amy B,,,,\nbob@nhs.net,VM4Q7,Bob,,,,\n"),
        "--dry-run",
    )
    assert code == 0
    assert "1 would be created, 1 updated, 0 unchanged" in out
    assert list(StaffAccount.objects.values_list("email", "display_name")) == [
        ("amy@nhs.net", "Amy")
    ]
    assert ImportRecord.objects.order_by("id").last().outcome == "dry_run"


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "The file: the file is empty"),
        (ACCOUNTS.encode(), "line 1: file: the file has a header but no data rows"),
        (b"PK\x03\x04\x14\x00\x06\x00rest-of-a-workbook", "this is a damaged zip file"),
        (bytes(range(256)) * 10, "this is not a text file"),
        (b"name,display_name\nRosewood,Rose\n", "line 1: email, ods_code: required column missing"),
    ],
)
def test_files_that_cannot_be_imported(db, write, content, message):
    code, _, err = run("accounts", write(content))
    assert code == 1 and message in err
    assert "Traceback" not in err
    assert not StaffAccount.objects.exists()


def test_huge_file_is_refused_by_size_before_reading(db, tmp_path):
    path = tmp_path / "huge.csv"
    with path.open("wb") as handle:
        handle.truncate(2 * 1024**3)  # sparse: 2 GB on paper, nothing on disk
    code, _, err = run("accounts", path)
    assert code == 1 and "the file is 2,048 MB; the most an import takes is 512 MB" in err


def test_missing_file_is_a_clear_error(db, tmp_path):
    code, _, err = run("accounts", tmp_path / "nope.csv")
    assert code == 2 and "does not exist" in err


def test_every_import_is_recorded(rosewood_boxes, write):
    path = write(ACCOUNTS + "amy@nhs.net,VM4Q7,Amy,,,,\n", name="report.csv")
    run("accounts", path)
    record = ImportRecord.objects.get()
    assert (record.kind, record.file_name, record.outcome, record.created) == (
        "accounts",
        "report.csv",
        "ok",
        1,
    )
    assert len(record.sha256) == 64 and record.size == path.stat().st_size


def test_an_upload_that_is_gone_is_a_recorded_failure(db, tmp_path):
    from accounts.imports.engine import run_import

    result = run_import("accounts", tmp_path / "cleared-away.csv")
    assert result.error_lines() == ["The file: the file is no longer there: upload it again"]
    assert ImportRecord.objects.get().outcome == "failed"
