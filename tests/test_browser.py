"""Pages in a real browser: Playwright driving Debian's Chromium, axe for accessibility."""

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe

from accounts.checks import run_check
from guidance import pages
from tests.conftest import PASSWORD, TODAY, make_account
from tests.test_worklist import week  # noqa: F401  (a fixture)

# Playwright's sync API keeps an event loop in this thread; Django's guard would refuse the
# ORM calls the fixtures make.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "var" / "test-artifacts"
pytestmark = pytest.mark.browser


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: run `make browsers` (make test does it for you)")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield context.new_page()
    context.close()


def serious_violations(page) -> list[str]:
    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def no_horizontal_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def shoot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for width in (375, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
        assert no_horizontal_scroll(page), f"{name} scrolls sideways at {width} px: {widest(page)}"


PUBLIC = [
    "/",
    "/accounts/login/",
    "/guidance/",
    *[f"/guidance/{p.slug}/" for p in pages.all_pages()],
]


@pytest.mark.parametrize("path", PUBLIC)
def test_public_pages_have_no_serious_accessibility_violations(live_server, page, path):
    page.goto(live_server.url + path)
    assert serious_violations(page) == []
    shoot(page, "public" + re.sub(r"[^a-z0-9]+", "-", path).rstrip("-"))


def sign_in(page, live_server, email):
    page.goto(live_server.url + "/accounts/login/")
    page.fill("#id_username", email)
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")


def test_helpdesk_card_prints_on_one_a4_page(live_server, page, manager, rosewood):
    sign_in(page, live_server, manager.email)
    page.goto(live_server.url + "/guidance/card/VM4Q7/")
    assert serious_violations(page) == []
    page.emulate_media(media="print")
    pdf = page.pdf(format="A4", print_background=True)
    assert len(re.findall(rb"/Type\s*/Page\b", pdf)) == 1
    assert b"%PDF" in pdf[:8]


def test_admin_filters_by_risk_and_downloads_the_csv(
    live_server, page, admin_user, rosewood, rosewood_mailbox, willow
):
    make_account(rosewood, "last.carer@nhs.net", days_ago=95, mailboxes=[rosewood_mailbox])
    run_check(TODAY)
    sign_in(page, live_server, admin_user.email)
    assert serious_violations(page) == []
    shoot(page, "admin-dashboard")
    page.select_option("#risk", "at_risk")
    page.click("text=Apply")
    assert "Rosewood Care Home" in page.inner_text("main")
    assert "Willow Court" not in page.inner_text("main")
    with page.expect_download() as download:
        page.click("text=Download this view (CSV)")
    text = Path(download.value.path()).read_text()
    assert text.splitlines()[1].startswith("VM4Q7,Rosewood Care Home")
    page.goto(live_server.url + "/imports/new/")
    assert serious_violations(page) == []
    shoot(page, "admin-import")


def test_manager_signs_in_sees_the_risk_and_signs_out(
    live_server, page, manager, rosewood, rosewood_mailbox
):
    make_account(rosewood, "last.carer@nhs.net", days_ago=95, mailboxes=[rosewood_mailbox])
    run_check(TODAY)
    sign_in(page, live_server, "Jane.Manager@example.org")
    assert page.url.endswith("/dashboard/")
    body = page.inner_text("main")
    assert "No active user" in body and "Nobody active can open this mailbox" in body
    assert "Have ODS code VM4Q7 to hand" in body
    assert serious_violations(page) == []
    shoot(page, "manager-dashboard")
    page.click("text=Rosewood Care Home")
    assert "last.carer@nhs.net" in page.inner_text("main")
    assert serious_violations(page) == []
    shoot(page, "manager-home")
    page.click("main a:visible:has-text('Mark as left')")
    assert serious_violations(page) == []
    page.click("main button[type=submit]")  # today's date is filled in
    assert "is marked as having left" in page.inner_text("main")
    page.click("main a:visible:has-text('Record removal request')")
    assert page.get_attribute("a[href^='mailto:helpdesk@nhs.net']", "href")
    page.click("main button[type=submit]")
    assert "Removal requested" in page.inner_text("main")
    page.click("header >> text=Sign out")
    assert "You have signed out" in page.inner_text("main")


# Each line of an element's text after the first, as the two characters around the break.
LINE_BREAKS = """e => {
    const walker = document.createTreeWalker(e, NodeFilter.SHOW_TEXT), chars = [];
    while (walker.nextNode()) for (let i = 0; i < walker.currentNode.length; i++) {
        const r = document.createRange(); r.setStart(walker.currentNode, i); r.setEnd(walker.currentNode, i + 1);
        chars.push([walker.currentNode.data[i], r.getBoundingClientRect().top]);
    }
    const out = [];
    for (let i = 1; i < chars.length; i++) if (chars[i][1] > chars[i - 1][1] + 2) out.push(chars[i - 1][0] + chars[i][0]);
    return out;
}"""


def widest(page):
    return page.evaluate("""() => [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
        .slice(0, 8).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))""")


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport={"width": 375, "height": 812}, is_mobile=True)
    yield context.new_page()
    context.close()


@pytest.mark.parametrize("width", [375, 1280])
def test_manager_records_a_seen_log_in_and_a_removal_request(
    live_server, browser, width, manager, rosewood, rosewood_mailbox
):
    make_account(rosewood, "amy.carer@nhs.net", days_ago=70, mailboxes=[rosewood_mailbox])
    make_account(rosewood, "ben.leaver@nhs.net", days_ago=10, mailboxes=[rosewood_mailbox])
    run_check(TODAY)
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    try:
        sign_in(page, live_server, manager.email)
        page.goto(live_server.url + "/homes/VM4Q7/")
        assert no_horizontal_scroll(page), widest(page)
        assert serious_violations(page) == []
        # Phones get one card per person, wider screens the table: only one is shown.
        cards, table = page.locator(".portal-staff-cards"), page.locator(".portal-staff-table")
        assert (cards.is_visible(), table.is_visible()) == (width < 641, width >= 641)
        page.locator("main a:visible", has_text="I have seen them log in").filter(
            has_text="amy.carer@nhs.net"
        ).click()
        assert serious_violations(page) == []
        page.click("main button[type=submit]")
        assert "Recorded that you saw Amy Carer log in" in page.inner_text("main")
        page.locator("main a:visible", has_text="Mark as left").filter(
            has_text="ben.leaver@nhs.net"
        ).click()
        page.click("main button[type=submit]")
        assert "is marked as having left" in page.inner_text("main")
        page.locator("main a:visible", has_text="Record removal request").click()
        assert no_horizontal_scroll(page), widest(page)
        page.click("main button[type=submit]")
        assert "Removal requested for ben.leaver@nhs.net" in page.inner_text("main")
        assert "Waiting for NHSmail since" in page.inner_text("main")
        assert no_horizontal_scroll(page), widest(page)
    finally:
        context.close()


def test_no_page_is_wider_than_a_phone(live_server, phone, manager, rosewood, rosewood_mailbox):
    long = "a.very.long.name.that.goes.on.and.on.for.a.while@nhs.net"
    make_account(rosewood, long, days_ago=70, mailboxes=[rosewood_mailbox])
    for day in range(7):
        run_check(TODAY + timedelta(days=day))
    sign_in(phone, live_server, manager.email)
    for path in ["/dashboard/", "/homes/VM4Q7/", "/guidance/", "/guidance/card/VM4Q7/",
                 "/email-preferences/"]:  # fmt: skip
        phone.goto(live_server.url + path)
        assert phone.evaluate("document.documentElement.scrollWidth") <= 375, (path, widest(phone))
        assert serious_violations(phone) == [], path
    phone.goto(live_server.url + "/homes/VM4Q7/")
    # The email wraps before a dot or after the @, never inside a word.
    email = phone.locator(".portal-staff-cards dd.portal-wrap", has_text="a.very.long").first
    breaks = email.evaluate(LINE_BREAKS)
    assert breaks and all(b[1] == "." or b[0] == "@" for b in breaks), breaks
    assert phone.locator(".portal-chart svg").is_visible()


def test_manager_makes_an_api_token_and_reads_the_docs_under_the_csp(
    live_server, page, manager, rosewood
):
    blocked = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security" in m.text else None)
    page.on("pageerror", lambda error: blocked.append(str(error)))
    sign_in(page, live_server, manager.email)
    page.click("header >> text=API tokens")
    page.fill("#id_name", "Power BI")
    page.check("text=30 days")
    page.click("main button[type=submit]")
    secret = page.inner_text("#new-token")
    assert serious_violations(page) == []
    shoot(page, "api-tokens")
    answer = page.request.get(
        live_server.url + "/api/v1/homes/", headers={"Authorization": f"Bearer {secret}"}
    )
    assert [home["ods_code"] for home in answer.json()["results"]] == ["VM4Q7"]
    page.goto(live_server.url + "/api/docs/")
    page.wait_for_selector(".opblock-summary-path")
    assert "/api/v1/homes/" in page.inner_text("#swagger-ui")
    page.screenshot(path=str(ARTIFACTS / "api-docs-1280.png"), full_page=True)
    assert blocked == []


# An admin's week, at a phone's width and a laptop's: the worklist and its download, past
# imports, and an upload of the wrong kind of file.
ACCOUNTS_REPORT = (
    "Email Address,ODS Code,Display Name,Account Status,Last Logon\n"
    "amy@nhs.net,VM4Q7,Amy,active,01/06/2026\n"
)


@pytest.mark.usefixtures("week")
@pytest.mark.parametrize("width", [375, 1280])
def test_admin_uses_the_worklist_and_downloads_it(
    live_server,
    page,
    admin_user,
    north,
    width,
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
    width,
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
