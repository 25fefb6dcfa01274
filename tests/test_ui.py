"""What managers read: words not codes, sentences that count right, actions that can succeed,
and the facts (thresholds, helpdesk) from one place."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import reverse

from accounts import dashboard
from accounts.checks import run_check
from accounts.models import Notification, SharedMailbox, StaffAccount
from accounts.notify import render
from tests.conftest import TODAY, make_account

STATIC = Path(__file__).resolve().parent.parent / "static"
CODES = ("at_risk", "single_user", "orphaned", "was first checked", "went from")


def visible(body: str) -> str:
    """The page's text, without markup (so class names and URLs do not count)."""
    return re.sub(r"<[^>]+>", " ", body)


def home_page(client, user, **params):
    client.force_login(user)
    return client.get("/homes/VM4Q7/", params).content.decode()


@pytest.fixture
def two_checks(rosewood, rosewood_mailbox):
    """An account that goes from active to log in soon, and its mailbox losing its user."""
    make_account(rosewood, "amy.carer@nhs.net", days_ago=55, mailboxes=[rosewood_mailbox])
    run_check(TODAY)
    run_check(TODAY + timedelta(days=40))


def test_home_page_and_history_say_states_and_risks_in_words(client, manager, two_checks):
    text = visible(home_page(client, manager))
    for code in CODES:
        assert code not in text, code
    assert "Amy Carer changed from active to inactive." in text
    assert "changed from one active user to no active user." in text
    assert "Amy Carer was checked for the first time: active." in text
    assert "No active user" in text


def test_an_account_at_risk_and_a_mailbox_at_risk_have_different_names():
    from accounts.rules import AccountState, MailboxRisk

    assert AccountState.AT_RISK.label == "Log in soon"
    assert MailboxRisk.AT_RISK.label == "No active user"
    assert AccountState.AT_RISK.value == MailboxRisk.AT_RISK.value == "at_risk"  # the contract


def test_alert_and_digest_emails_name_risks_in_words(manager, admin_user, two_checks, rosewood):
    for kind, user, context in (
        (Notification.Kind.DIGEST, manager, {"as_of": TODAY.isoformat()}),
        (Notification.Kind.ALERT, admin_user, {"run": 1, "ods_codes": [rosewood.ods_code]}),
    ):
        text, html = render(
            Notification(kind=kind, user=user, recipient=user.email, context=context)
        )
        for code in ("at_risk", "single_user", "orphaned"):
            assert code not in text and code not in visible(html), (kind, code)
        assert "nobody active can open this mailbox" in text.lower()


def test_linked_people_are_one_sentence_without_a_trailing_comma(
    client, manager, rosewood, rosewood_mailbox
):
    make_account(rosewood, "amy.carer@nhs.net", days_ago=1, mailboxes=[rosewood_mailbox])
    make_account(rosewood, "ben.carer@nhs.net", days_ago=70, mailboxes=[rosewood_mailbox])
    run_check(TODAY)
    text = " ".join(visible(home_page(client, manager)).split())
    assert "People linked to it: Amy Carer (active) and Ben Carer (log in soon)." in text


def test_chart_summary_counts_people_in_words(rosewood, rosewood_mailbox):
    make_account(rosewood, "amy.carer@nhs.net", days_ago=1, mailboxes=[rosewood_mailbox])
    run_check(TODAY)
    (chart,) = dashboard.alive_charts(rosewood, [rosewood_mailbox])
    assert chart.summary == (
        f"At the check on {TODAY:%-d %B %Y}, 1 person could open rosewood.carehome@nhs.net."
    )
    run_check(TODAY)  # a second check the same day: still one date, not "from X to X"
    (chart,) = dashboard.alive_charts(rosewood, [rosewood_mailbox])
    assert "from" not in chart.summary and "1 person could open" in chart.summary
    run_check(TODAY + timedelta(days=1))
    (chart,) = dashboard.alive_charts(rosewood, [rosewood_mailbox])
    assert "between 1 and 1" not in chart.summary
    assert chart.summary.startswith("At each of the last 3 checks, from ")


def test_fewer_than_seven_checks_show_a_sentence_and_seven_draw_labelled_axes(
    client, manager, rosewood, rosewood_mailbox
):
    make_account(rosewood, "amy.carer@nhs.net", days_ago=1, mailboxes=[rosewood_mailbox])
    make_account(rosewood, "ben.carer@nhs.net", days_ago=1, mailboxes=[rosewood_mailbox])
    for day in range(6):
        run_check(TODAY + timedelta(days=day))
    body = home_page(client, manager)
    assert "<svg viewBox" not in body and "A chart appears here after 7 checks." in body
    run_check(TODAY + timedelta(days=6))
    body = home_page(client, manager)
    assert "<polyline" in body and "A chart appears here" not in body
    assert "People who can open the mailbox" in body and "Below 1: no active user" in body
    assert f"{TODAY:%-d %b %Y}" in body and f"{TODAY + timedelta(days=6):%-d %b %Y}" in body
    assert "At each of the last 7 checks" in body and 'style="' not in body


def test_staff_cards_for_small_screens_and_the_table_for_wide_ones(
    client, manager, rosewood, rosewood_mailbox
):
    make_account(rosewood, "amy.carer@nhs.net", days_ago=70, mailboxes=[rosewood_mailbox])
    make_account(rosewood, "off.carer@nhs.net", days_ago=100, status="disabled")
    run_check(TODAY)
    body = home_page(client, manager)
    cards = body[body.index('class="portal-staff-cards"') : body.index("portal-staff-table")]
    assert cards.count('class="nhsuk-card portal-staff-card"') == 2
    due = TODAY - timedelta(days=70) + timedelta(days=90)
    assert f"Log in by {due:%-d %b %Y}" in cards
    assert f"Disabled on {TODAY - timedelta(days=10):%-d %b %Y}" in cards
    assert "(NHSmail report)" in cards and "nhsuk-button" in cards
    css = (STATIC / "css" / "portal.css").read_text()
    assert ".portal-staff-table { display: none; }" in css and "@media (min-width: 641px)" in css


def test_the_last_activity_names_its_source(
    client, manager, rosewood, rosewood_mailbox, django_capture_on_commit_callbacks
):
    account = make_account(rosewood, "amy.carer@nhs.net", days_ago=70)
    account.attested_on, account.attested_by = TODAY, manager
    account.save()
    run_check(TODAY)
    assert "a manager saw them log in" in home_page(client, manager)
    with django_capture_on_commit_callbacks(execute=True):  # the save commits
        account.attested_by = None
        account.save()
    assert "their own check-in" in home_page(client, manager)


def test_link_is_offered_only_with_another_mailbox_and_refused_without(
    client, manager, rosewood, rosewood_mailbox, django_capture_on_commit_callbacks
):
    amy = make_account(rosewood, "amy.carer@nhs.net", days_ago=1, mailboxes=[rosewood_mailbox])
    run_check(TODAY)
    link = reverse("account_action", args=["VM4Q7", amy.pk, "link"])
    assert link not in home_page(client, manager)
    refused = client.get(link)
    assert refused.status_code == 409
    assert "This home has no other shared mailbox to link Amy Carer to." in refused.content.decode()
    assert client.post(link, {"mailbox": rosewood_mailbox.pk}).status_code == 409
    with django_capture_on_commit_callbacks(execute=True):  # the new mailbox commits
        SharedMailbox.objects.create(home=rosewood, email="office.rosewood@nhs.net")
    assert link in home_page(client, manager)
    assert client.get(link).status_code == 200


def test_a_deleted_account_is_not_offered_seen_log_in_and_it_is_refused(
    client, manager, rosewood, rosewood_mailbox
):
    gone = make_account(rosewood, "gone.carer@nhs.net", days_ago=200, status="deleted")
    run_check(TODAY)
    seen = reverse("account_action", args=["VM4Q7", gone.pk, "seen-log-in"])
    assert seen not in home_page(client, manager)
    response = client.post(seen, {"on": TODAY.strftime("%d/%m/%Y")})
    assert response.status_code == 409
    assert "has no NHSmail account any more" in response.content.decode()
    assert StaffAccount.objects.get(pk=gone.pk).attested_on is None


def test_an_action_with_a_bad_date_has_an_error_summary_linking_to_the_field(
    client, manager, rosewood
):
    amy = make_account(rosewood, "amy.carer@nhs.net", days_ago=1)
    client.force_login(manager)
    body = client.post(
        reverse("account_action", args=["VM4Q7", amy.pk, "left"]), {"on": "31/02/2026"}
    ).content.decode()
    assert "nhsuk-error-summary" in body and 'href="#id_on"' in body
    # At the top of <main>, before the page's heading (the NHS.UK error summary pattern).
    main = body.split('id="maincontent">', 1)[1]
    assert main.lstrip().startswith('<div class="nhsuk-error-summary"')
    assert main.index("nhsuk-error-summary") < main.index("<h1") < main.index('name="on"')
    assert body.count("nhsuk-error-summary__title") == 1


def test_the_sign_in_error_summary_opens_main_once(client, manager):
    body = client.post(
        reverse("login"), {"username": manager.email, "password": "not-the-password"}
    ).content.decode()
    main = body.split('id="maincontent">', 1)[1]
    assert main.lstrip().startswith('<div class="nhsuk-error-summary"')
    assert body.count("nhsuk-error-summary__title") == 1


def test_breadcrumbs_use_the_current_markup_with_a_back_link(client, manager, rosewood):
    body = home_page(client, manager)
    assert "nhsuk-breadcrumb__list-item" in body and "nhsuk-breadcrumb__item" not in body
    assert 'class="nhsuk-back-link" href="/dashboard/"' in body
    page = client.get(reverse("guidance:page", args=["keep-your-account-active"]))
    assert 'class="nhsuk-back-link" href="/guidance/"' in page.content.decode()


def test_favicon_is_served_from_the_vendored_frontend(client, db):
    response = client.get("/favicon.ico")
    assert response.status_code == 302
    assert response["Location"].endswith("nhsuk/assets/images/favicon.ico")


def test_email_preferences_are_in_the_header_and_phrased_as_a_yes(client, manager):
    client.force_login(manager)
    body = client.get(reverse("dashboard")).content.decode()
    assert 'href="/email-preferences/">Email preferences</a>' in body
    page = client.get(reverse("email_preferences")).content.decode()
    assert "Send me the weekly email" in page and re.search(r'name="send_weekly"[^>]*checked', page)
    client.post(reverse("email_preferences"), {})
    manager.refresh_from_db()
    assert manager.digest_opt_out
    page = client.get(reverse("email_preferences")).content.decode()
    assert not re.search(r'name="send_weekly"[^>]*checked', page)
    client.post(reverse("email_preferences"), {"send_weekly": "on"})
    manager.refresh_from_db()
    assert not manager.digest_opt_out


def test_signed_out_header_has_no_email_preferences(client, db):
    assert "Email preferences" not in client.get("/").content.decode()


def test_thresholds_and_helpdesk_come_from_settings(
    client, settings, manager, rosewood, rosewood_mailbox
):
    settings.INACTIVITY_DAYS, settings.WARNING_DAYS = 120, 80
    settings.HELPDESK_PHONE = "0300 123 4567"
    settings.HELPDESK_EMAIL = "desk@example.nhs.uk"
    settings.HELPDESK_MENU = "Press 9 for a person."
    client.force_login(manager)
    card = client.get(reverse("guidance:card", args=["VM4Q7"])).content.decode()
    assert "unused for 120 days" in card and 'href="tel:03001234567"' in card
    assert "0300 123 4567" in card and "desk@example.nhs.uk" in card and "Press 9" in card
    assert "0333" not in card and "helpdesk@nhs.net" not in card
    amy = make_account(rosewood, "amy.carer@nhs.net", days_ago=100)
    run_check(TODAY)
    amy.refresh_from_db()
    reminder = Notification.objects.create(
        kind=Notification.Kind.REMINDER, account=amy, recipient=amy.email, context={"days": 20}
    )
    text, html = render(reminder)
    for body in (text, html):
        assert "120 days" in body and "0300 123 4567" in body and "Press 9" in body
        assert "90 days" not in body and "0333" not in body


def test_helpdesk_card_has_a_print_button_and_prints_without_link_addresses(client, manager):
    client.force_login(manager)
    card = client.get(reverse("guidance:card", args=["VM4Q7"])).content.decode()
    assert 'data-module="portal-print"' in card and "js/print.js" in card
    assert "onclick" not in card
    script = (STATIC / "js" / "print.js").read_text()
    assert "window.print()" in script
    css = (STATIC / "css" / "portal.css").read_text()
    assert 'a[href^="tel:"]::after' in css and "content: none" in css


def test_guidance_pages_follow_the_settings(client, settings, db):
    settings.INACTIVITY_DAYS, settings.WARNING_DAYS = 120, 80
    settings.HELPDESK_PHONE = "0300 123 4567"
    settings.HELPDESK_MENU = "Press 9 for a person."
    keep = client.get(reverse("guidance:page", args=["keep-your-account-active"]))
    body = keep.content.decode()
    assert "The 120-day rule" in body and "90" not in visible(body)
    assert 'href="tel:03001234567">0300 123 4567</a>' in body and "{" not in visible(body)
    helpdesk = client.get(reverse("guidance:page", args=["get-help-from-the-helpdesk"]))
    assert "Press 9 for a person." in helpdesk.content.decode()


@pytest.mark.parametrize(
    "path, current, within",
    [
        ("/dashboard/", "Dashboard", None),
        ("/homes/VM4Q7/", None, "Dashboard"),
        ("/worklist/", "Worklist", None),
        ("/guidance/", "Guidance", None),
        ("/guidance/keep-your-account-active/", None, "Guidance"),
    ],
)
def test_the_header_marks_where_the_reader_is(client, admin_user, rosewood, path, current, within):
    """The header says which of its links is this page (aria-current="page") or the
    section it sits in (aria-current="true"), and marks no other link."""
    client.force_login(admin_user)
    header = client.get(path).content.decode().split("</header>")[0]
    marked = re.findall(r'aria-current="(page|true)">([^<]+)</a>', header)
    expected = [("page", current)] if current else [("true", within)]
    assert marked == expected
