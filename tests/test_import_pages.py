import csv
import io
import os
import time
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.checks import run_check
from accounts.models import ImportRecord, StaffAccount
from accounts.tasks import check_upload
from tests.conftest import TODAY, make_account

GOOD = b"Email Address,ODS Code,Display Name,Last Logon Time\namy@nhs.net,VM4Q7,Amy,01/06/2026 09:00\nbob@nhs.net,VM4Q7,Bob,\n"
BAD = b"email,ods_code\namy@nhs.net,VM4Q7\nbob@nhs.net,ZZ999\n"


def upload(client, content, kind="accounts", name="report.csv"):
    return client.post(
        reverse("import_new"), {"kind": kind, "file": SimpleUploadedFile(name, content, "text/csv")}
    )


def test_managers_and_strangers_cannot_import(client, manager):
    assert client.get(reverse("import_new")).status_code == 302
    client.force_login(manager)
    assert client.get(reverse("import_new")).status_code == 404


def test_admin_uploads_sees_a_preview_then_imports(client, admin_user, rosewood):
    client.force_login(admin_user)
    page = upload(client, GOOD)
    assert page.status_code == 302
    preview = client.get(page.url)
    body = preview.content.decode()
    assert "Email Address" in body and "Last Logon Time" in body
    assert "2 created, 0 updated, 0 unchanged, 0 with errors" in body
    assert not StaffAccount.objects.exists()
    token = page.url.rstrip("/").split("/")[-1]
    done = client.post(reverse("import_confirm", args=[token]))
    assert done.status_code == 302
    assert StaffAccount.objects.count() == 2
    record = ImportRecord.objects.exclude(outcome="dry_run").get()
    assert record.user == admin_user and record.source == "web" and record.outcome == "ok"
    assert "Imported: report.csv" in client.get(done.url).content.decode()
    # The stored upload is gone once imported, and cannot be confirmed twice.
    assert client.post(reverse("import_confirm", args=[token])).status_code == 404


def test_preview_lists_every_error_by_line_and_skipping_imports_the_rest(
    client, admin_user, rosewood
):
    client.force_login(admin_user)
    page = upload(client, BAD)
    body = client.get(page.url).content.decode()
    assert "Line 3, ODS code: no care home with ODS code ZZ999" in body
    token = page.url.rstrip("/").split("/")[-1]
    client.post(reverse("import_confirm", args=[token]), {"skip_bad_rows": "on"})
    assert list(StaffAccount.objects.values_list("email", flat=True)) == ["amy@nhs.net"]


def test_a_file_that_is_not_csv_is_explained(client, admin_user):
    client.force_login(admin_user)
    page = upload(client, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), name="report.xls")
    body = client.get(page.url).content.decode()
    assert "this is an old Excel .xls file" in body
    assert "Import this file" not in body


def test_someone_elses_upload_token_is_404(client, admin_user, superuser, rosewood):
    client.force_login(admin_user)
    token = upload(client, GOOD).url.rstrip("/").split("/")[-1]
    client.force_login(superuser)
    assert client.get(reverse("import_preview", args=[token])).status_code == 404
    assert client.get("/imports/..%2F..%2Fetc%2Fpasswd/").status_code == 404


def test_upload_over_the_cap_is_refused(client, admin_user, settings):
    settings.IMPORT_UPLOAD_MAX_BYTES = 10
    client.force_login(admin_user)
    page = upload(client, GOOD)
    assert page.status_code == 200
    assert "the most you can upload is" in page.content.decode()


def test_large_upload_goes_to_the_worker_with_a_progress_page(
    client, admin_user, rosewood, settings, monkeypatch
):
    settings.IMPORT_BACKGROUND_BYTES = 10
    queued = []
    monkeypatch.setattr("accounts.tasks.import_file.apply_async", lambda **kw: queued.append(kw))
    client.force_login(admin_user)
    token = upload(client, GOOD).url.rstrip("/").split("/")[-1]
    page = client.post(reverse("import_confirm", args=[token]))
    assert page.url == reverse("import_progress", args=[token])
    assert queued and queued[0]["args"][0] == "accounts"
    progress = client.get(page.url).content.decode()
    assert "rows read so far" in progress and 'http-equiv="refresh"' in progress
    from accounts.tasks import import_file

    import_file(*queued[0]["args"])  # what the worker runs
    assert StaffAccount.objects.count() == 2
    assert client.get(page.url).status_code == 302


def test_export_download_is_scoped_to_the_users_homes(
    client, manager, rosewood, willow, rosewood_mailbox
):
    make_account(rosewood, "amy@nhs.net", days_ago=5, mailboxes=[rosewood_mailbox])
    make_account(willow, "wes@nhs.net", days_ago=5)
    run_check(TODAY)
    client.force_login(manager)
    response = client.get(reverse("export_download", args=["accounts"]))
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    assert [r["Email address"] for r in csv.DictReader(io.StringIO(text))] == ["amy@nhs.net"]
    assert client.get("/exports/nothing.csv").status_code == 404


@pytest.mark.parametrize("kind", ["accounts", "mailboxes"])
def test_export_download_needs_sign_in(client, db, kind):
    assert client.get(reverse("export_download", args=[kind])).status_code == 302


def test_abandoned_uploads_are_cleared_after_a_day(client, admin_user, settings):
    import os
    import time

    stale = settings.UPLOAD_DIR / ("a" * 32 + ".csv")
    stale.write_text("email\n")
    os.utime(stale, (time.time() - 2 * 86400, time.time() - 2 * 86400))
    client.force_login(admin_user)
    upload(client, GOOD)
    assert not stale.exists()


def test_the_preview_is_a_read_of_the_check_made_at_upload(client, admin_user, rosewood):
    client.force_login(admin_user)
    page = upload(client, BAD)
    assert ImportRecord.objects.filter(outcome="dry_run").count() == 1
    for _ in range(3):
        body = client.get(page.url).content.decode()
        assert "Line 3, ODS code" in body
    assert ImportRecord.objects.count() == 1
    # Another admin cannot read this upload's check.
    other = type(admin_user).objects.create_user("other.admin@example.org", role="admin")
    client.force_login(other)
    assert client.get(page.url).status_code == 404


def test_a_large_upload_is_checked_in_the_worker_then_previewed(
    client, admin_user, rosewood, settings
):
    settings.IMPORT_BACKGROUND_BYTES = 10
    client.force_login(admin_user)
    with mock.patch("accounts.imports.views.check_upload.apply_async") as queued:
        page = upload(client, GOOD)
    assert queued.called and not ImportRecord.objects.exists()
    assert "Checking your file" in client.get(page.url).content.decode()
    assert not ImportRecord.objects.exists()
    check_upload(*queued.call_args.kwargs["args"])
    assert "2 created, 0 updated" in client.get(page.url).content.decode()


def test_a_check_the_worker_never_finished_says_so(client, admin_user, rosewood, settings):
    settings.IMPORT_BACKGROUND_BYTES = 10
    client.force_login(admin_user)
    with mock.patch("accounts.imports.views.check_upload.apply_async"):
        page = upload(client, GOOD)
    token = page.url.rstrip("/").split("/")[-1]
    stored = settings.UPLOAD_DIR / f"{token}.csv"
    hours_ago = time.time() - (settings.STALE_IMPORT_MINUTES + 1) * 60
    os.utime(stored, (hours_ago, hours_ago))
    body = client.get(page.url).content.decode()
    assert "The check did not finish" in body and 'http-equiv="refresh"' not in body
