"""Unit tests of the readers: workbook cells as text, sheet rows as lines, and what a header
row is taken to mean."""

from datetime import date, datetime, time

import pytest
from openpyxl import Workbook

from accounts.imports import headers, sheets
from accounts.imports.csvfiles import FileRefused
from accounts.imports.specs import ACCOUNTS, HOMES, MAILBOXES, usage_report
from tests.test_import_formats import ACTIVE_USERS, EMAIL_ACTIVITY


@pytest.mark.parametrize(
    "value, text",
    [
        (None, ""),
        ("  Amy ", "  Amy "),
        (True, "True"),
        (False, "False"),
        (1234.0, "1234"),
        (12.5, "12.5"),
        (7, "7"),
        (datetime(2026, 6, 1), "2026-06-01"),
        (datetime(2026, 6, 1, 10, 30), "2026-06-01T10:30:00"),
        (datetime(2026, 6, 1, 10, 29, 59, 999_999), "2026-06-01T10:30:00"),
        (datetime(2026, 6, 1, 23, 59, 59, 600_000), "2026-06-02"),
        (date(2026, 6, 1), "2026-06-01"),
        (time(9, 15), "09:15:00"),
    ],
)
def test_cells_read_as_a_csv_file_would_hold_them(value, text):
    assert sheets.cell_text(value) == text


def test_rows_are_numbered_as_the_sheet_numbers_them(tmp_path):
    book = Workbook()
    sheet = book.active
    sheet["B2"], sheet["C2"], sheet["D2"] = "email", "ods_code", "display_name"
    sheet["B3"], sheet["C3"] = "amy@nhs.net", "VM4Q7"
    sheet["B5"], sheet["C5"], sheet["D5"], sheet["F5"] = "bob@nhs.net", "VM4Q7", "Bob", "x"
    book.save(tmp_path / "r.xlsx")
    assert list(sheets.workbook_rows(tmp_path / "r.xlsx")) == [
        (2, ["", "email", "ods_code", "display_name"]),
        (3, ["", "amy@nhs.net", "VM4Q7", ""]),
        (4, ["", "", "", ""]),
        (5, ["", "bob@nhs.net", "VM4Q7", "Bob", "", "x"]),
    ]


def test_inspect_tells_a_workbook_from_csv(tmp_path):
    book = Workbook()
    book.active.title = "Report"
    book.active.append(["email"])
    book.save(tmp_path / "upload.csv")  # stored uploads keep a name of our own
    facts = sheets.inspect(tmp_path / "upload.csv", 10**6)
    assert (facts.container, facts.sheet, facts.encoding) == ("xlsx", "Report", "")
    (tmp_path / "plain.csv").write_bytes(b"email\n")
    assert sheets.inspect(tmp_path / "plain.csv", 10**6).container == "csv"


def test_a_nul_anywhere_in_a_text_file_is_refused(tmp_path):
    path = tmp_path / "late.csv"
    path.write_bytes(b"email\n" + b"a" * (3 * 1024 * 1024) + b"\x00")
    with pytest.raises(FileRefused, match=r"binary data \(byte 3,145,735\)"):
        sheets.inspect(path, 10**9)


def test_usage_reports_are_told_apart_by_their_columns():
    assert usage_report(EMAIL_ACTIVITY).label == "Microsoft 365 email activity report"
    assert usage_report(ACTIVE_USERS).label == "Microsoft 365 active users report"
    mailbox_usage = [
        "Report Refresh Date", "User Principal Name", "Display Name", "Is Deleted",
        "Deleted Date", "Created Date", "Last Activity Date", "Item Count",
    ]  # fmt: skip
    assert usage_report(mailbox_usage).label == "Microsoft 365 usage report"
    assert usage_report(["email", "ods_code", "last_activity"]) is None


def test_a_plan_maps_a_usage_report_onto_our_columns():
    plan = headers.plan(ACCOUNTS, ACTIVE_USERS, ods="VM4Q7")
    assert not plan.problems
    assert plan.columns["email"] == "User Principal Name"
    assert plan.columns["status"] == "Is Deleted"
    assert plan.columns["ods_code"] == "VM4Q7, the home chosen"
    assert plan.columns["last_activity"].startswith("Exchange Last Activity Date, OneDrive")
    assert "created" not in plan.columns and "shared_mailboxes" not in plan.columns


@pytest.mark.parametrize(
    "spec, header, problem",
    [
        (ACCOUNTS, ["E-mail", "UPN", "ODS"], ("email", "columns 'E-mail' and 'UPN' both mean email")),
        (MAILBOXES, ["Shared Mailbox", "Email", "ODS"],
         ("email", "columns 'Shared Mailbox' and 'Email' both mean email")),
        (HOMES, ["ods_code", "Home Name", "Care Home"],
         ("name", "columns 'Home Name' and 'Care Home' both mean name")),
    ],
)  # fmt: skip
def test_a_plan_names_both_columns_that_mean_the_same(spec, header, problem):
    assert problem in headers.plan(spec, header).problems


@pytest.mark.parametrize(
    "spec, header, hint",
    [
        (MAILBOXES, ["email", "ods_code", "last_activity"], "this looks like an accounts report"),
        (HOMES, ["email", "ods_code", "name", "status"], "this looks like an accounts report"),
        (ACCOUNTS, ["ods_code", "name", "cqc_location_id"], "this looks like a care homes file"),
        (HOMES, ["ods_code", "email", "display_name"],
         "this looks like a shared mailboxes file or an accounts report"),
        (ACCOUNTS, ["email", "ods_code", "name", "status", "region"], None),
        (MAILBOXES, ["email", "ods_code", "display_name"], None),
    ],
)  # fmt: skip
def test_a_plan_says_when_a_file_looks_like_another_kind(spec, header, hint):
    problems = [message for column, message in headers.plan(spec, header).problems]
    if hint:
        assert problems and problems[0].startswith(hint)
    else:
        assert not any("looks like" in message for message in problems)


def test_a_zip_bomb_is_refused_from_its_directory_before_anything_is_inflated(
    tmp_path, monkeypatch
):
    import zipfile

    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("mimetype", b"\0" * 20_000_000)
    inflated = []
    monkeypatch.setattr(zipfile.ZipFile, "read", lambda *a, **k: inflated.append(a) or b"")
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda *a, **k: inflated.append(a))
    with pytest.raises(FileRefused, match="unpacks to 19 MB"):
        sheets.inspect(path, max_bytes=1_000_000)
    assert inflated == []


def test_a_workbook_with_more_text_than_memory_should_hold_is_refused(tmp_path, settings):
    import zipfile

    book = Workbook()
    book.active.append(["email", "ods_code"])
    path = tmp_path / "report.xlsx"
    book.save(path)
    strings = "".join(f"<si><t>person{n}@nhs.net</t></si>" for n in range(2000))
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/sharedStrings.xml", f"<sst>{strings}</sst>")
    settings.IMPORT_MAX_SHARED_STRINGS_BYTES = 10_000
    with pytest.raises(FileRefused, match="MB of text.*Save it as CSV instead"):
        sheets.inspect(path, max_bytes=100_000_000)
