"""An admin's week in a real browser, at a phone's width and a laptop's: the worklist and
its download, past imports, and an upload of the wrong kind of file."""

# The browser and data fixtures are shared with test_browser.py and test_worklist.py.
# ruff: noqa: F811

from pathlib import Path

import pytest

from tests.test_browser import browser, page, serious_violations, shoot, sign_in  # noqa: F401
from tests.test_worklist import week  # noqa: F401

pytestmark = pytest.mark.browser

ACCOUNTS_REPORT = (
    "Email Address,ODS Code,Display Name,Account Status,Last Logon\n"
    "amy@nhs.net,VM4Q7,Amy,active,01/06/2026\n"
)


@pytest.mark.parametrize("width", [375, 1280])
def test_admin_uses_the_worklist_and_downloads_it(
    live_server,
    page,
    admin_user,
    north,
    week,
    width,  # noqa: F811
):
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server, admin_user.email)
    page.click("main >> text=This week's worklist")
    main = page.inner_text("main")
    assert "Bob Brown" in main and "Wes West" in main and "willow.court@nhs.net" in main
    assert serious_violations(page) == []
    shoot(page, f"worklist-from-{width}")
    page.set_viewport_size({"width": width, "height": 900})
    page.select_option("#region", label="Yorkshire")
    page.click("main >> text=Show")
    main = page.inner_text("main")
    assert "Wes West" in main and "Bob Brown" not in main
    with page.expect_download() as download:
        page.click("text=Download the worklist (CSV)")
    assert download.value.suggested_filename == "worklist-as-of-2026-06-15.csv"
    text = Path(download.value.path()).read_bytes().decode("utf-8")
    assert text.startswith("\ufeffWhat to do,Name,Email address,Home,ODS code,")
    assert "wes.west@nhs.net" in text and "bob.brown@nhs.net" not in text


@pytest.mark.parametrize("width", [375, 1280])
def test_admin_uploads_the_wrong_kind_of_file(
    live_server,
    page,
    admin_user,
    rosewood,
    tmp_path,
    width,  # noqa: F811
):
    report = tmp_path / "staff-report.csv"
    report.write_text(ACCOUNTS_REPORT)
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server, admin_user.email)
    page.goto(live_server.url + "/imports/new/")
    page.check("input[name=kind][value=mailboxes]")
    page.set_input_files("#id_file", str(report))
    page.click("main >> text=Upload and check")
    callout = page.locator(".nhsuk-warning-callout")
    assert "Check this is the right file" in callout.inner_text()
    assert "this looks like an accounts report, not a shared mailboxes file" in (
        callout.inner_text()
    )
    details = page.locator("dl.nhsuk-summary-list")
    assert callout.bounding_box()["y"] < details.bounding_box()["y"]  # the first thing read
    assert page.locator("text=Import this file").count() == 0
    assert serious_violations(page) == []
    shoot(page, f"import-preview-wrong-kind-from-{width}")
    page.goto(live_server.url + "/import-records/")
    assert "staff-report.csv" in page.inner_text("main")
    assert serious_violations(page) == []
    shoot(page, f"import-history-from-{width}")
