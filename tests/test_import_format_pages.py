"""The upload page with the report files people really have: the formats it names, the one
it detected, a report for one home chosen from the uploader's homes, workbooks, and files
of another kind or with a column given twice."""

import io
from datetime import date

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from openpyxl import Workbook

from accounts.models import CareHome, ImportRecord, StaffAccount, User
from tests.conftest import PASSWORD
from tests.test_import_formats import ACTIVE_USERS, active_users_row, csv_text

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def upload(client, content, kind="accounts", name="report.csv", home=None):
    data = {"kind": kind, "file": SimpleUploadedFile(name, content, "text/csv")}
    if home is not None:
        data["home"] = home
    return client.post(reverse("import_new"), data)


def token_of(page) -> str:
    return page.url.rstrip("/").split("/")[-1]


def users_report() -> bytes:
    return csv_text(
        ACTIVE_USERS,
        [
            active_users_row("amy@nhs.net", "Amy", Exchange="2026-06-01"),
            active_users_row("bob@nhs.net", "Bob", "True", Teams="2026-05-20"),
        ],
    ).encode()


def test_the_upload_page_names_the_formats_it_reads(client, admin_user, rosewood, willow):
    client.force_login(admin_user)
    body = client.get(reverse("import_new")).content.decode()
    assert "Excel workbooks (.xlsx)" in body
    assert "Email activity user details" in body and "Microsoft 365 active users details" in body
    assert "Old Excel files (.xls), PDFs and zip files cannot be read" in body
    assert "Rosewood Care Home (VM4Q7)" in body and "Willow Court (VN8P2)" in body


def test_a_microsoft_365_report_for_a_chosen_home(client, admin_user, rosewood, willow):
    client.force_login(admin_user)
    page = upload(client, users_report(), home="VM4Q7")
    assert page.status_code == 302
    body = client.get(page.url).content.decode()
    assert "Microsoft 365 active users report (CSV)" in body
    assert "10 June 2026" in body and "VM4Q7" in body
    assert "2 created, 0 updated, 0 unchanged, 0 with errors" in body
    done = client.post(reverse("import_confirm", args=[token_of(page)]))
    record = ImportRecord.objects.exclude(outcome="dry_run").get()
    assert record.report_date == date(2026, 6, 10)
    assert record.file_format == "Microsoft 365 active users report (CSV)"
    assert sorted(
        StaffAccount.objects.values_list("email", "home__ods_code", "reported_status")
    ) == [
        ("amy@nhs.net", "VM4Q7", "active"),
        ("bob@nhs.net", "VM4Q7", "deleted"),
    ]
    shown = client.get(done.url).content.decode()
    assert "Microsoft 365 active users report (CSV)" in shown and "10 June 2026" in shown


def test_without_a_home_the_report_asks_for_one(client, admin_user, rosewood):
    client.force_login(admin_user)
    body = client.get(upload(client, users_report()).url).content.decode()
    assert "Line 1, ODS code: required column missing" in body
    assert "Import this file" not in body


def test_the_home_list_is_the_uploaders_homes(client, rosewood, willow, midlands):
    region_admin = User.objects.create_user(
        "rita.region@example.org", PASSWORD, role=User.Role.ADMIN
    )
    region_admin.regions.add(midlands)  # Rosewood's region, not Willow's
    client.force_login(region_admin)
    body = client.get(reverse("import_new")).content.decode()
    assert "Rosewood Care Home (VM4Q7)" in body and "Willow Court" not in body
    page = upload(client, users_report(), home="VN8P2")
    assert page.status_code == 200
    assert "Choose one of your homes" in page.content.decode()
    assert not ImportRecord.objects.exists()


def test_hundreds_of_homes_are_chosen_by_ods_code(client, admin_user, rosewood, monkeypatch):
    monkeypatch.setattr("accounts.forms.HomeChoiceField.LIST_AT_MOST", 1)
    CareHome.objects.create(ods_code="VX001", name="Another Home")
    client.force_login(admin_user)
    body = client.get(reverse("import_new")).content.decode()
    assert "Rosewood Care Home (VM4Q7)" not in body and "Type its ODS code" in body
    page = upload(client, users_report(), home=" vm4q7 ")
    assert page.status_code == 302
    client.post(reverse("import_confirm", args=[token_of(page)]))
    assert set(StaffAccount.objects.values_list("home__ods_code", flat=True)) == {"VM4Q7"}


def test_a_homes_file_is_not_for_one_home(client, admin_user, rosewood):
    client.force_login(admin_user)
    page = upload(client, b"ods_code,name\nVM4Q7,Rose\n", kind="homes", home="VM4Q7")
    assert page.status_code == 200
    assert "A care homes file lists many homes" in page.content.decode()


def test_a_large_one_home_report_goes_to_the_worker_with_its_home(
    client, admin_user, rosewood, settings, monkeypatch
):
    settings.IMPORT_BACKGROUND_BYTES = 10
    checks, queued = [], []
    monkeypatch.setattr(
        "accounts.imports.views.check_upload.apply_async", lambda **kw: checks.append(kw)
    )
    monkeypatch.setattr("accounts.tasks.import_file.apply_async", lambda **kw: queued.append(kw))
    client.force_login(admin_user)
    page = upload(client, users_report(), home="VM4Q7")
    from accounts.tasks import check_upload, import_file

    check_upload(*checks[0]["args"])  # what the worker runs when the file arrives
    assert (
        "2 created, 0 updated, 0 unchanged, 0 with errors" in client.get(page.url).content.decode()
    )
    client.post(reverse("import_confirm", args=[token_of(page)]))
    import_file(*queued[0]["args"])  # and when it is confirmed
    assert StaffAccount.objects.filter(home=rosewood).count() == 2


def test_a_workbook_upload_previews_its_first_rows(client, admin_user, rosewood):
    book = Workbook()
    book.active.title = "Staff"
    book.active.append(["Email Address", "ODS Code", "Last Logon Date"])
    book.active.append(["amy@nhs.net", "VM4Q7", date(2026, 6, 1)])
    buffer = io.BytesIO()
    book.save(buffer)
    client.force_login(admin_user)
    page = client.post(
        reverse("import_new"),
        {
            "kind": "accounts",
            "file": SimpleUploadedFile("staff.xlsx", buffer.getvalue(), XLSX_TYPE),
        },
    )
    body = client.get(page.url).content.decode()
    assert "Excel workbook, sheet &#x27;Staff&#x27; with the portal&#x27;s columns" in body
    assert "Last Logon Date" in body and "2026-06-01" in body
    client.post(reverse("import_confirm", args=[token_of(page)]))
    assert StaffAccount.objects.get().last_activity_date == date(2026, 6, 1)


def test_an_accounts_report_uploaded_as_mailboxes_says_so(client, admin_user, rosewood):
    client.force_login(admin_user)
    content = b"Email Address,ODS Code,Display Name,Account Status,Last Logon\n"
    content += b"amy@nhs.net,VM4Q7,Amy,active,01/06/2026\n"
    body = client.get(upload(client, content, kind="mailboxes").url).content.decode()
    assert "this looks like an accounts report, not a shared mailboxes file" in body
    assert "Import this file" not in body


def test_a_column_given_twice_is_shown_on_the_preview(client, admin_user, rosewood):
    client.force_login(admin_user)
    content = b"Email,Email Address,ODS\namy@nhs.net,amy@nhs.net,VM4Q7\n"
    body = client.get(upload(client, content).url).content.decode()
    assert "columns &#x27;Email&#x27; and &#x27;Email Address&#x27; both mean email" in body


def test_a_nul_byte_late_in_an_upload_is_a_clear_error_not_a_500(client, admin_user, rosewood):
    content = "email,ods_code\n" + "".join(f"u{n}@nhs.net,VM4Q7\n" for n in range(5000))
    client.force_login(admin_user)
    page = upload(client, content.encode() + b"nul@nhs.net,VM4\x00Q7\n")
    preview = client.get(page.url)
    assert preview.status_code == 200
    assert "this is not a text file" in preview.content.decode()
    record = ImportRecord.objects.get()
    assert record.error_count == 1 and record.errors[0].startswith("The file: this is not")
