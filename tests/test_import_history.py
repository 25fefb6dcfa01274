"""Import pages for admins: the checked preview as people read it, and past imports."""

import re

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.imports.engine import run_import
from accounts.models import ImportRecord

THREE_ROWS = b"email,ods_code\namy@nhs.net,VM4Q7\nbob@nhs.net,ZZ999\ncat@nhs.net,VM4Q7\n"


def upload(client, content, kind="accounts", name="report.csv"):
    return client.post(
        reverse("import_new"), {"kind": kind, "file": SimpleUploadedFile(name, content, "text/csv")}
    )


def test_preview_marks_the_bad_rows_and_says_what_skipping_does(client, admin_user, rosewood):
    client.force_login(admin_user)
    body = client.get(upload(client, THREE_ROWS).url).content.decode()
    marked = re.findall(r'<tr class="nhsuk-table__row portal-row--problem">\s*<th[^>]*>(\d+)', body)
    assert marked == ["3"]  # bob's line, and only it
    assert "no care home with ODS code ZZ999" in body.split("portal-row--problem")[1]
    assert "the 2 rows without errors will be imported, and the 1 row with errors" in body
    assert 'If you tick "Skip the rows with errors and import the rest"' in body
    assert "If you do not tick it: nothing will be imported" in body


def test_preview_names_columns_as_people_know_them(client, admin_user, rosewood):
    client.force_login(admin_user)
    body = client.get(upload(client, THREE_ROWS).url).content.decode()
    assert "Email address (required)" in body and "ODS code (required)" in body
    assert "Last activity" in body and "Staff NHSmail accounts" in body
    assert "Line 3, ODS code: no care home with ODS code ZZ999" in body
    assert ">ods_code (required)<" not in body
    assert "All 2 rows will be imported" not in body


def test_a_clean_file_says_every_row_will_be_imported(client, admin_user, rosewood):
    client.force_login(admin_user)
    body = client.get(upload(client, b"email,ods_code\namy@nhs.net,VM4Q7\n").url).content
    assert "All 1 row will be imported." in body.decode()


def test_a_binary_file_is_the_files_problem_not_line_0(client, admin_user, rosewood):
    client.force_login(admin_user)
    body = client.get(upload(client, b"email,ods_code\n\x00\x01\x02binary").url).content.decode()
    assert "line 0" not in body
    assert "Check this is the right file" in body and "The file: this is not a text file" in body


def test_the_wrong_kind_of_file_is_called_out_at_the_top(client, admin_user, rosewood):
    client.force_login(admin_user)
    content = b"Email Address,ODS Code,Display Name,Account Status,Last Logon\n"
    content += b"amy@nhs.net,VM4Q7,Amy,active,01/06/2026\n"
    body = client.get(upload(client, content, kind="mailboxes").url).content.decode()
    callout = body.split("Check this is the right file")[1].split("</div>")[0]
    assert "The file: this looks like an accounts report, not a shared mailboxes file" in callout


def test_past_imports_are_listed_with_links_to_each(client, admin_user, rosewood, tmp_path):
    client.force_login(admin_user)
    upload(client, THREE_ROWS, name="june-staff.csv")
    path = tmp_path / "from-the-command.csv"
    path.write_bytes(b"email,ods_code\nzed@nhs.net,VM4Q7\n")
    run_import("accounts", path)  # an operator's: not this regional-less admin's own
    body = client.get(reverse("import_history")).content.decode()
    mine = ImportRecord.objects.get(file_name="june-staff.csv")
    assert f'href="/import-records/{mine.pk}/"' in body and "june-staff.csv" in body
    assert admin_user.email in body and "Checked only (dry run)" in body
    assert "3: 0 created, 0 updated, 0 unchanged, 1 skipped; 1 problem" in body
    # An admin for every region sees the command's imports too.
    assert "from-the-command.csv" in body and "Command" in body


def test_a_regional_admin_sees_only_their_own_imports(client, admin_user, midlands, superuser):
    admin_user.regions.add(midlands)
    ImportRecord.objects.create(kind="homes", source="web", user=superuser, file_name="x.csv",
                                outcome="ok")  # fmt: skip
    ImportRecord.objects.create(kind="homes", source="web", user=admin_user, file_name="y.csv",
                                outcome="failed")  # fmt: skip
    client.force_login(admin_user)
    body = client.get(reverse("import_history")).content.decode()
    assert "y.csv" in body and "Nothing imported" in body and "x.csv" not in body


def test_past_imports_are_paged_in_constant_queries(client, admin_user, django_assert_num_queries):
    ImportRecord.objects.bulk_create(
        ImportRecord(kind="accounts", source="web", user=admin_user, file_name=f"f{i}.csv",
                     outcome="ok")
        for i in range(60)
    )  # fmt: skip
    client.force_login(admin_user)
    # session, user, sees every home, count, page (users joined), saving the session (3)
    with django_assert_num_queries(5):
        first = client.get(reverse("import_history"))
    assert len(first.context["page"].object_list) == 50 and "page=2" in first.content.decode()
    second = client.get(reverse("import_history"), {"page": 2})
    assert len(second.context["page"].object_list) == 10


def test_import_history_is_for_admins_only(client, manager):
    assert client.get(reverse("import_history")).status_code == 302
    client.force_login(manager)
    assert client.get(reverse("import_history")).status_code == 404
