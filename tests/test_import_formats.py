"""The report files people really have: Excel workbooks, Microsoft 365 usage reports as
downloaded, reports for one home without an ODS code column, and the files that cannot be
read, each through the import commands. The fixtures are written here from the documented
column lists."""

import io
import zipfile
from datetime import date, datetime

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection
from openpyxl import Workbook

from accounts.models import ImportRecord, SharedMailbox, StaffAccount, User
from accounts.rules import LONDON
from tests.conftest import PASSWORD, make_account
from tests.test_imports import run

# The CSV columns Microsoft documents for the downloads (Microsoft Graph, reportRoot:
# getEmailActivityUserDetail and getOffice365ActiveUserDetail), in their order.
EMAIL_ACTIVITY_HEADER = (
    "Report Refresh Date,User Principal Name,Display Name,Is Deleted,Deleted Date,"
    "Last Activity Date,Send Count,Receive Count,Read Count,Meeting Created Count,"
    "Meeting Interacted Count,Assigned Products,Report Period"
)
ACTIVE_USERS_HEADER = (
    "Report Refresh Date,User Principal Name,Display Name,Is Deleted,Deleted Date,"
    "Has Exchange License,Has OneDrive License,Has SharePoint License,"
    "Has Skype For Business License,Has Yammer License,Has Teams License,"
    "Exchange Last Activity Date,OneDrive Last Activity Date,SharePoint Last Activity Date,"
    "Skype For Business Last Activity Date,Yammer Last Activity Date,Teams Last Activity Date,"
    "Exchange License Assign Date,OneDrive License Assign Date,SharePoint License Assign Date,"
    "Skype For Business License Assign Date,Yammer License Assign Date,"
    "Teams License Assign Date,Assigned Products"
)
EMAIL_ACTIVITY = EMAIL_ACTIVITY_HEADER.split(",")
ACTIVE_USERS = ACTIVE_USERS_HEADER.split(",")
REFRESHED = "2026-06-10"


def email_activity_row(upn, name, deleted="False", last="", deleted_on=""):
    cells = dict.fromkeys(EMAIL_ACTIVITY, "")
    cells.update({
        "Report Refresh Date": REFRESHED, "User Principal Name": upn, "Display Name": name,
        "Is Deleted": deleted, "Deleted Date": deleted_on, "Last Activity Date": last,
        "Send Count": "12", "Receive Count": "40", "Read Count": "33",
        "Assigned Products": "OFFICE 365 E3+MICROSOFT TEAMS", "Report Period": "180",
    })  # fmt: skip
    return [cells[c] for c in EMAIL_ACTIVITY]


def active_users_row(upn, name, deleted="False", **last):
    cells = dict.fromkeys(ACTIVE_USERS, "")
    cells.update({
        "Report Refresh Date": REFRESHED, "User Principal Name": upn, "Display Name": name,
        "Is Deleted": deleted, "Has Exchange License": "True", "Has Teams License": "True",
        "Exchange License Assign Date": "2024-01-04", "Assigned Products": "OFFICE 365 E3",
    })  # fmt: skip
    for product, day in last.items():
        cells[f"{product} Last Activity Date"] = day
    return [cells[c] for c in ACTIVE_USERS]


def csv_text(header, rows) -> str:
    return "\n".join(",".join(row) for row in [header, *rows]) + "\n"


@pytest.fixture
def write(tmp_path):
    def write(content, name="report.csv"):
        path = tmp_path / name
        path.write_bytes(content.encode("utf-8-sig") if isinstance(content, str) else content)
        return path

    return write


def workbook(path, rows, *, title="Sheet1", extra_sheet=False):
    book = Workbook()
    sheet = book.active
    sheet.title = title
    for row in rows:
        sheet.append(row)
    if extra_sheet:
        book.create_sheet("Notes").append(["not", "read"])
    book.save(path)
    return path


# Microsoft 365 usage reports -------------------------------------------------------------


def test_email_activity_report_for_one_home(rosewood, write):
    make_account(rosewood, "dee@nhs.net", status="disabled", days_ago=200)
    path = write(csv_text(EMAIL_ACTIVITY, [
        email_activity_row("Amy.Jones@nhs.net", "Amy Jones", last="2026-06-01"),
        email_activity_row("bob.hill@nhs.net", "Bob Hill", "True", "2026-05-01", "2026-06-05"),
        email_activity_row("cat.lee@nhs.net", "Cat Lee"),
        email_activity_row("dee@nhs.net", "Dee", last="2026-06-09"),
    ]))  # fmt: skip
    code, out, err = run("accounts", path, "--ods", " vm4q7 ")
    assert code == 0, err
    assert "Read as: Microsoft 365 email activity report (CSV); report date 2026-06-10" in out
    assert "3 were created, 1 updated" in out
    accounts = {a.email: a for a in StaffAccount.objects.all()}
    assert {a.home.ods_code for a in accounts.values()} == {"VM4Q7"}
    assert accounts["amy.jones@nhs.net"].last_activity_date == date(2026, 6, 1)
    assert accounts["amy.jones@nhs.net"].display_name == "Amy Jones"
    assert accounts["bob.hill@nhs.net"].reported_status == "deleted"
    assert accounts["cat.lee@nhs.net"].reported_status == "active"
    assert accounts["cat.lee@nhs.net"].last_activity is None
    # "Is Deleted: False" says nothing about a disabled account.
    assert accounts["dee@nhs.net"].reported_status == "disabled"
    assert accounts["dee@nhs.net"].last_activity_date == date(2026, 6, 9)
    record = ImportRecord.objects.get()
    assert record.report_date == date(2026, 6, 10)
    assert record.file_format == "Microsoft 365 email activity report (CSV)"


def test_active_users_report_takes_the_latest_activity_of_any_product(rosewood, write):
    path = write(csv_text(ACTIVE_USERS, [
        active_users_row("amy@nhs.net", "Amy", Exchange="2026-05-01", Teams="2026-06-03"),
        active_users_row("bob@nhs.net", "Bob", SharePoint="2026-04-02"),
    ]))  # fmt: skip
    code, out, err = run("accounts", path, "--ods", "VM4Q7")
    assert code == 0, err
    assert "Microsoft 365 active users report (CSV)" in out
    days = dict(StaffAccount.objects.values_list("email", "last_activity_date"))
    assert days == {"amy@nhs.net": date(2026, 6, 3), "bob@nhs.net": date(2026, 4, 2)}
    assert ImportRecord.objects.get().report_date == date(2026, 6, 10)


def test_activity_after_the_report_refresh_date_is_an_error_on_that_line(rosewood, write):
    path = write(csv_text(EMAIL_ACTIVITY, [
        email_activity_row("amy@nhs.net", "Amy", last="2026-06-01"),
        email_activity_row("bob@nhs.net", "Bob", last="2026-06-11"),
    ]))  # fmt: skip
    code, _, err = run("accounts", path, "--ods", "VM4Q7")
    assert code == 1
    assert (
        "line 3: last_activity: '2026-06-11' is after the report's Report Refresh Date, "
        "2026-06-10" in err
    )
    assert not StaffAccount.objects.exists()


def test_a_report_without_an_ods_column_needs_the_home(rosewood, write):
    path = write(csv_text(EMAIL_ACTIVITY, [email_activity_row("amy@nhs.net", "Amy")]))
    code, _, err = run("accounts", path)
    assert code == 1
    assert "line 1: ods_code: required column missing" in err and "--ods CODE" in err
    assert ImportRecord.objects.get().outcome == "failed"


@pytest.mark.parametrize(
    "cell, message",
    [
        ("maybe", "line 2: status: Is Deleted: 'maybe' is neither True nor False"),
        ("True", None),
    ],
)
def test_is_deleted_must_be_true_or_false(rosewood, write, cell, message):
    path = write(csv_text(EMAIL_ACTIVITY, [email_activity_row("amy@nhs.net", "Amy", cell)]))
    code, _, err = run("accounts", path, "--ods", "VM4Q7")
    if message:
        assert code == 1 and message in err
    else:
        assert code == 0 and StaffAccount.objects.get().reported_status == "deleted"


def test_concealed_user_names_are_explained(rosewood, write):
    path = write(csv_text(EMAIL_ACTIVITY, [email_activity_row("7A1C" * 8, "")]))
    code, _, err = run("accounts", path, "--ods", "VM4Q7")
    assert code == 1
    assert "line 2: email: user names are concealed in this report" in err
    assert "Display concealed user, group, and site names" in err


# One home: --ods ---------------------------------------------------------------------------


def test_ods_fills_blank_cells_and_refuses_rows_for_another_home(rosewood, willow, write):
    path = write("email,ods_code\namy@nhs.net,\nbob@nhs.net,vm4q7\nwes@nhs.net,VN8P2\n")
    code, _, err = run("accounts", path, "--ods", "VM4Q7")
    assert code == 1
    assert "line 4: ods_code: 'VN8P2' is another home: this file is for VM4Q7" in err
    assert err.count("line ") == 1
    code, _, err = run("accounts", path, "--ods", "VM4Q7", "--skip-bad-rows")
    assert sorted(StaffAccount.objects.values_list("email", "home__ods_code")) == [
        ("amy@nhs.net", "VM4Q7"),
        ("bob@nhs.net", "VM4Q7"),
    ]


def test_ods_works_for_mailboxes_too(rosewood, write):
    code, _, err = run("mailboxes", write("email\nrosewood.office@nhs.net\n"), "--ods", "VM4Q7")
    assert code == 0, err
    assert SharedMailbox.objects.get().home == rosewood


@pytest.mark.parametrize(
    "ods, message",
    [
        ("V!", "The home chosen: 'V!' is not a valid ODS code"),
        ("ZZ999", "The home chosen: no care home with ODS code ZZ999"),
    ],
)
def test_ods_must_be_a_home(rosewood, write, ods, message):
    code, _, err = run("accounts", write("email\namy@nhs.net\n"), "--ods", ods)
    assert code == 1 and message in err
    assert "Traceback" not in err
    assert ImportRecord.objects.get().outcome == "failed"


def test_homes_files_take_no_ods(db, write):
    with pytest.raises(CommandError, match="unrecognized arguments: --ods"):
        call_command("import_homes", str(write("ods_code,name\nVM4Q7,Rose\n")), "--ods", "VM4Q7")


# Excel workbooks ---------------------------------------------------------------------------


def test_workbook_first_sheet_with_date_cells(rosewood, rosewood_mailbox, tmp_path):
    path = workbook(
        tmp_path / "accounts.xlsx",
        [
            ["Email Address", "ODS Code", "Display Name", "Last Logon Time", "Created Date",
             "Shared Mailboxes"],
            ["Amy@NHS.net", "vm4q7", "Amy", datetime(2026, 6, 1, 10, 30), date(2025, 1, 2),
             "rosewood.carehome@nhs.net"],
            [None, None, None, None, None, None],
            ["bob@nhs.net", "VM4Q7", 1234, "02/06/2026 08:15", None],
        ],
        title="Staff",
        extra_sheet=True,
    )  # fmt: skip
    code, out, err = run("accounts", path)
    assert code == 0, err
    assert "Read as: Excel workbook, sheet 'Staff' with the portal's columns" in out
    assert "2 rows read (xlsx)" in out
    amy = StaffAccount.objects.get(email="amy@nhs.net")
    assert amy.last_activity == datetime(2026, 6, 1, 10, 30, tzinfo=LONDON)
    assert amy.first_recorded == date(2025, 1, 2)
    assert [m.email for m in amy.mailboxes.all()] == ["rosewood.carehome@nhs.net"]
    bob = StaffAccount.objects.get(email="bob@nhs.net")
    assert bob.display_name == "1234" and bob.last_activity_date == date(2026, 6, 2)
    record = ImportRecord.objects.get()
    assert record.file_format.startswith("Excel workbook") and record.encoding == ""


def test_workbook_errors_name_the_sheet_row_and_trailing_empty_rows_are_ignored(rosewood, tmp_path):
    book = Workbook()
    sheet = book.active
    sheet["B3"], sheet["C3"] = "email", "ods_code"  # a header below two empty rows
    sheet["B4"], sheet["C4"] = "amy@nhs.net", "VM4Q7"
    sheet["B5"], sheet["C5"] = "not-an-email", "VM4Q7"
    sheet["B6"], sheet["C6"] = "cat@nhs.net", "ZZ999"
    for row in range(7, 40):  # formatted but empty, as Excel leaves them
        sheet.cell(row=row, column=2).number_format = "@"
    book.save(tmp_path / "report.xlsx")
    code, _, err = run("accounts", tmp_path / "report.xlsx")
    assert code == 1
    assert "line 5: email: 'not-an-email' is not a valid email address" in err
    assert "line 6: ods_code: no care home with ODS code ZZ999" in err
    assert "line 7" not in err and "line 39" not in err


def test_workbook_report_date_cells_and_microsoft_365_columns(rosewood, tmp_path):
    row = active_users_row("amy@nhs.net", "Amy", Exchange="2026-06-01")
    cells = [date(2026, 6, 10) if i == 0 else value for i, value in enumerate(row)]
    cells[ACTIVE_USERS.index("Is Deleted")] = False
    path = workbook(tmp_path / "users.xlsx", [ACTIVE_USERS, cells])
    code, out, err = run("accounts", path, "--ods", "VM4Q7")
    assert code == 0, err
    assert "Microsoft 365 active users report (Excel workbook, sheet 'Sheet1')" in out
    assert ImportRecord.objects.get().report_date == date(2026, 6, 10)


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "this is an old Excel .xls file"),
        (b"%PDF-1.7\n%\xe2\xe3\n", "this is a PDF"),
        (_zip({"report.csv": b"email\n"}), "this is a zip file, not a report: unzip it"),
        (
            _zip({"mimetype": b"application/vnd.oasis.opendocument.spreadsheet"}),
            "this is an OpenDocument (.ods) spreadsheet",
        ),
        (b"PK\x03\x04\x14\x00\x06\x00rest-of-a-workbook", "this is a damaged zip file"),
        (
            _zip({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<nope"}),
            "this Excel workbook cannot be read",
        ),
        ("email\n".encode("utf-16"), "this is a UTF-16 text file"),
    ],
)
def test_files_that_are_not_reports_are_refused_with_a_reason(db, write, content, message):
    code, _, err = run("accounts", write(content, name="report.xlsx"))
    assert code == 1 and message in err
    assert "Traceback" not in err
    assert ImportRecord.objects.get().outcome == "failed"


def test_a_workbook_that_unpacks_too_large_is_refused_before_reading(db, write, settings):
    settings.IMPORT_MAX_BYTES = 50_000
    content = _zip({"[Content_Types].xml": b"<Types/>", "xl/sharedStrings.xml": b" " * 60_000})
    code, _, err = run("accounts", write(content, name="big.xlsx"))
    assert code == 1 and "this workbook unpacks to" in err


# Issue 13 item 6: binary data anywhere, and database errors --------------------------------


def test_a_nul_byte_after_the_first_64_kb_is_refused_and_recorded(rosewood, write):
    lines = ["email,ods_code,display_name"]
    lines += [f"user{n}@nhs.net,VM4Q7,User {n}" for n in range(3000)]
    lines.append("nul@nhs.net,VM4Q7,Bad\x00Name")
    path = write("\n".join(lines) + "\n")
    assert path.stat().st_size > 64 * 1024
    code, _, err = run("accounts", path)
    assert code == 1
    assert "The file: this is not a text file: it holds binary data (byte " in err
    assert "Traceback" not in err
    record = ImportRecord.objects.get()
    assert record.outcome == "failed" and record.error_count == 1
    assert not StaffAccount.objects.exists()


def test_a_database_error_is_a_recorded_failure(rosewood, write, monkeypatch):
    def broken(*args):
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table")

    monkeypatch.setattr("accounts.imports.engine._check", broken)
    code, _, err = run("accounts", write("email,ods_code\namy@nhs.net,VM4Q7\n"))
    assert code == 1
    assert "The import: the import stopped and wrote nothing (the database said: " in err
    assert "no_such_table" in err and "Traceback" not in err
    assert ImportRecord.objects.get().outcome == "failed"
    assert not StaffAccount.objects.exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY is PostgreSQL's")
def test_copy_errors_are_django_database_errors(db):
    from accounts.imports import bulk

    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE nul_test (t text)")
    with pytest.raises(DatabaseError):
        bulk.load("nul_test", ["t"], [("a\x00b",)])


# Issue 13 item 12 and issue 14: columns given twice, files of another kind -----------------


@pytest.mark.parametrize(
    "kind, header, message",
    [
        ("accounts", "Email,Email Address,ODS",
         "line 1: email: columns 'Email' and 'Email Address' both mean email"),
        ("accounts", "email,ods_code,Last Logon,Last Activity",
         "line 1: last_activity: columns 'Last Logon' and 'Last Activity' both mean last_activity"),
        ("homes", "ods_code,name,ODS Code",
         "line 1: ods_code: columns 'ods_code' and 'ODS Code' both mean ods_code"),
    ],
)  # fmt: skip
def test_a_column_given_twice_is_an_error_naming_both(rosewood, write, kind, header, message):
    code, _, err = run(kind, write(header + "\n" + ",".join(["x@nhs.net"] * 3) + "\n"))
    assert code == 1 and message in err
    assert not StaffAccount.objects.exists()


@pytest.mark.parametrize(
    "kind, content, message",
    [
        ("mailboxes", "email,ods_code,display_name,status,last_activity\n"
                      "amy@nhs.net,VM4Q7,Amy,active,2026-06-01\n",
         "line 1: file: this looks like an accounts report, not a shared mailboxes file "
         "(it has 'status', 'last_activity'): import it as staff NHSmail accounts"),
        ("accounts", "ods_code,name,registered_landline,region\nVM4Q7,Rose,0116,Leics\n",
         "line 1: file: this looks like a care homes file, not an accounts report"),
        ("accounts", "Shared Mailbox,ODS Code,Display Name\nrose@nhs.net,VM4Q7,Rose\n",
         "line 1: file: this looks like a shared mailboxes file, not an accounts report"),
        ("mailboxes", csv_text(EMAIL_ACTIVITY, [email_activity_row("amy@nhs.net", "Amy")]),
         "line 1: file: this is a Microsoft 365 email activity report, which lists staff "
         "accounts, not a shared mailboxes file"),
    ],
)  # fmt: skip
def test_a_file_of_another_kind_says_what_it_looks_like(rosewood, write, kind, content, message):
    code, _, err = run(kind, write(content))
    assert code == 1 and message in err
    assert not SharedMailbox.objects.exists() and not StaffAccount.objects.exists()


def test_a_report_with_extra_columns_of_another_kind_is_not_refused(rosewood, write):
    content = "email,ods_code,display_name,status,region,Telephone\namy@nhs.net,VM4Q7,Amy,,N,1\n"
    code, _, err = run("accounts", write(content))
    assert code == 0, err


def test_addresses_show_a_mailbox_file_imported_as_accounts(rosewood, rosewood_mailbox, write):
    make_account(rosewood, "amy@nhs.net")
    content = "email,ods_code\nrosewood.carehome@nhs.net,VM4Q7\n"
    code, _, err = run("accounts", write(content))
    assert code == 1
    assert (
        "line 2: email: rosewood.carehome@nhs.net is a shared mailbox of this home, not a staff "
        "account: is this a shared mailboxes file?" in err
    )
    code, _, err = run("mailboxes", write("email,ods_code\namy@nhs.net,VM4Q7\n"))
    assert code == 1
    assert "amy@nhs.net is a staff account of this home, not a shared mailbox" in err


@pytest.mark.parametrize("ods", ["VN8P2", "ZZ999"])
def test_ods_outside_the_importers_scope_reads_as_no_home(rosewood, willow, midlands, write, ods):
    rita = User.objects.create_user("rita.region@example.org", PASSWORD, role=User.Role.ADMIN)
    rita.regions.add(midlands)  # Rosewood's region, not Willow's
    flags = ("--ods", ods, "--as", rita.email)
    code, _, err = run("accounts", write("email\namy@nhs.net\n"), *flags)
    assert code == 1 and f"The home chosen: {ods} is not one of your homes" in err
    code, _, err = run("accounts", write("email\namy@nhs.net\n"), "--ods", "VM4Q7", *flags[2:])
    assert code == 0, err


def test_mailbox_addresses_of_homes_outside_the_scope_are_not_revealed(
    rosewood, willow, midlands, willow_mailbox, write
):
    rita = User.objects.create_user("rita.region@example.org", PASSWORD, role=User.Role.ADMIN)
    rita.regions.add(midlands)
    content = "email,ods_code\nwillow.court@nhs.net,VN8P2\n"
    code, _, err = run("accounts", write(content), "--as", rita.email)
    assert code == 1 and "not one of your homes" in err
    assert "shared mailbox" not in err
