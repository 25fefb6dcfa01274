"""Every fact of the reference guide must reach the pages that staff read."""

import pytest
from django.urls import reverse

from guidance import pages

# The facts of ../shared/reference/nhsmail-care-homes-guide.md, as they must appear.
FACTS = [
    "0333 200 1133",
    'href="tel:03332001133"',
    'href="mailto:helpdesk@nhs.net"',
    "24 hours a day, 365 days a year",
    "password resets",
    "option 1",
    "unable to access account",
    "type of organisation",
    "social care or pharmacy",
    "put through to an agent",
    "adding users",
    "reactivating a deleted account",
    "email address",
    "mobile phone number",
    "security questions",
    "cannot create NHSmail accounts or reset passwords",
    "https://support.nhs.net/knowledge-base/nhsmail-pods-faqs/",
    "https://www.digitalsocialcare.co.uk/covid-19-guidance/covid-19-quick-access-to-nhsmail/",
    "recover your password",
    "joiners and leavers",
    "Outlook",
    "GP practices, LPT services and Adult Social Care teams",
    "90 days or more",
    "Only <strong>individual</strong> accounts are turned off",
    "shared mailbox stays",
    "nobody in the home can open the shared mailbox",
    "ask them to log in to NHSmail now",
    "remove anyone who no longer works at your home",
    "revoke their access to the shared mailbox",
    "information governance, data and security reasons",
    "Use NHSmail and the shared mailbox every day",
    "do not miss important emails from the NHS",
    "Where every staff account is inactive, the shared mailbox is at risk",
    "set up new users",
    "NHS Digital advises",
    "trouble logging in",
    "all linked accounts have been deleted",
    "both the staff member and the manager left",
    "new individual NHSmail account and link it to the shared mailbox",
    "<strong>ODS code</strong>",
    "registered landline",
    "so the helpdesk can check that the call really comes from your home",
]


@pytest.fixture
def all_guidance(client, db):
    return "\n".join(
        client.get(reverse("guidance:page", args=[p.slug])).content.decode()
        for p in pages.all_pages()
    )


@pytest.mark.parametrize("fact", FACTS)
def test_every_fact_of_the_reference_appears(all_guidance, fact):
    assert fact in all_guidance


def test_index_lists_every_page_without_sign_in(client, db):
    body = client.get("/guidance/").content.decode()
    assert len(pages.all_pages()) == 6
    for page in pages.all_pages():
        assert f'href="/guidance/{page.slug}/"' in body and page.summary in body


@pytest.mark.parametrize(
    "url",
    [
        "/guidance/nope/",
        "/guidance/..%2F..%2Fsettings/",
        "/guidance/a%00b/",
        "/guidance/%3Cscript%3E/",
    ],
)
def test_unknown_and_malicious_slugs_are_404(client, db, url):
    # A NUL is refused before any page sees it (carehome_portal.middleware): 400.
    assert client.get(url).status_code == (400 if "%00" in url else 404)


def test_search_finds_pages_by_their_words(client, db):
    body = client.get("/guidance/", {"q": "registered landline"}).content.decode()
    results = body.split("Results for")[1].split("All guidance")[0]
    assert "If nobody can open the shared mailbox" in results
    assert "When someone leaves" not in results
    nothing = client.get("/guidance/", {"q": "xylophone"}).content.decode()
    assert "No page mentions every word" in nothing


def test_search_escapes_what_was_typed(client, db):
    body = client.get("/guidance/", {"q": "<script>alert(1)</script>"}).content.decode()
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;" in body


def test_signed_in_manager_sees_their_ods_code_and_landline(client, manager):
    client.force_login(manager)
    body = client.get("/guidance/if-nobody-can-open-the-shared-mailbox/").content.decode()
    assert "ODS code <strong>VM4Q7</strong>" in body and "0116 496 0000" in body
    assert 'href="/guidance/card/VM4Q7/"' in body


def test_helpdesk_card_is_scoped_to_the_managers_homes(client, manager, willow):
    assert client.get("/guidance/card/VM4Q7/").status_code == 302
    client.force_login(manager)
    card = client.get("/guidance/card/VM4Q7/")
    assert card.status_code == 200
    assert "0116 496 0000" in card.content.decode()
    assert client.get("/guidance/card/VN8P2/").status_code == 404
