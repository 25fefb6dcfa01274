"""What pages keep between requests, like the worklist's counts (worklistcounts.py): the
admin dashboard's figures (its mailboxes by risk, its count of homes) and a home page below
the home's name. Each is kept until a write changes it, never served after: each test opens
a page, writes through a public edge, and opens it again. An admin's figures are their own
regions'."""

import html
import io
import re
from datetime import timedelta

import pytest
from django.core.cache import cache, caches
from django.core.management import call_command
from django.db import connection
from django.db.models import Count
from django.template import Context, Template
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts import staffrows, views, worklistcounts, worklistrows
from accounts.checks import run_check
from accounts.models import (
    CareHome,
    CheckRun,
    Region,
    SharedMailbox,
    StaffAccount,
    User,
    WorklistVersion,
)
from accounts.rules import london_today
from tests.conftest import PASSWORD, check_commits_at_first_version_read, make_account

TODAY = london_today()


@pytest.fixture
def homes(rosewood, rosewood_mailbox, willow, willow_mailbox):
    """Rosewood (Leicestershire) with Amy at 75 days and Cat at 3; Willow (Yorkshire) with
    Wes at 100 days, alone on its mailbox."""
    make_account(rosewood, "amy.adams@nhs.net", days_ago=75, mailboxes=[rosewood_mailbox],
                 as_of=TODAY)  # fmt: skip
    make_account(rosewood, "cat.cole@nhs.net", days_ago=3, mailboxes=[rosewood_mailbox],
                 as_of=TODAY)  # fmt: skip
    make_account(willow, "wes.west@nhs.net", days_ago=100, mailboxes=[willow_mailbox],
                 as_of=TODAY)  # fmt: skip
    run_check(TODAY)


def figures(client, **params) -> tuple[dict, int]:
    """What the dashboard says: mailboxes per risk, and how many homes its view holds."""
    context = client.get(reverse("dashboard"), params).context
    totals = {risk.value: n for risk, n in context["totals"].items() if n}
    return totals, context["page"].paginator.count


def counted(mailboxes=None) -> dict:
    mailboxes = SharedMailbox.objects.all() if mailboxes is None else mailboxes
    return dict(mailboxes.values_list("risk").annotate(n=Count("id")).order_by())


def test_the_totals_follow_the_nights_check_at_once(client, admin_user, homes):
    client.force_login(admin_user)
    before = figures(client)
    assert before == ({"at_risk": 1, "healthy": 1}, 2) and before[0] == counted()
    assert figures(client) == before  # kept
    # Sixty days on: Amy's 75 days become 135, Cat's 3 become 63, Wes's 160.
    call_command("check_inactivity", "--as-of", str(TODAY + timedelta(days=60)),
                 stdout=io.StringIO())  # fmt: skip
    totals, homes_count = figures(client)
    assert totals == counted() and homes_count == 2
    assert totals == {"at_risk": 1, "single_user": 1}


def test_each_admin_sees_their_regions_figures(client, admin_user, midlands, north, homes):
    regional = User.objects.create_user("rita.region@example.org", PASSWORD, role="admin")
    regional.regions.add(midlands)
    client.force_login(admin_user)
    assert figures(client) == ({"at_risk": 1, "healthy": 1}, 2)
    client.force_login(regional)
    assert figures(client) == ({"healthy": 1}, 1)
    assert figures(client, q="VN8P2") == ({"healthy": 1}, 0)  # Willow: not theirs
    regional.regions.add(north)
    assert figures(client) == ({"at_risk": 1, "healthy": 1}, 2)


def test_the_count_of_each_view_follows_an_import(client, admin_user, homes, tmp_path):
    client.force_login(admin_user)
    assert figures(client)[1] == 2
    assert figures(client, q="Rose")[1] == 1
    path = tmp_path / "homes.csv"
    path.write_text("ods_code,name\nAB123,Rose Lodge\n")
    call_command("import_homes", str(path), stdout=io.StringIO())
    assert figures(client)[1] == 3
    assert figures(client, q="Rose")[1] == 2
    assert figures(client, risk="at_risk")[1] == 1


def home_page(client, **params) -> str:
    return client.get(reverse("home_detail", args=["VM4Q7"]), params).content.decode()


def queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_a_home_page_is_kept_until_a_managers_action(client, manager, homes):
    client.force_login(manager)
    url = reverse("home_detail", args=["VM4Q7"])
    # Kept below the home's name, and the last check: the session, the user, the home, its
    # region's version.
    assert queries(client, url) > queries(client, url) == 4
    assert "Waiting for NHSmail" not in home_page(client)
    amy = StaffAccount.objects.get(email="amy.adams@nhs.net")
    action = reverse("account_action", args=["VM4Q7", amy.pk, "removal-requested"])
    assert client.post(action, {"on": TODAY.strftime("%d/%m/%Y")}).status_code == 302
    assert "Waiting for NHSmail since" in home_page(client)


def test_a_home_page_follows_the_nights_check_and_an_import(client, manager, homes, tmp_path):
    client.force_login(manager)
    assert "Disabled on" not in home_page(client)
    call_command("check_inactivity", "--as-of", str(TODAY + timedelta(days=60)),
                 stdout=io.StringIO())  # fmt: skip
    assert "Disabled on" in home_page(client)  # Amy's 135 days
    path = tmp_path / "accounts.csv"
    path.write_text("email,ods_code,display_name\namy.adams@nhs.net,VM4Q7,Amy Renamed\n")
    assert "Amy Renamed" not in home_page(client)
    call_command("import_accounts", str(path), stdout=io.StringIO())
    assert "Amy Renamed" in home_page(client)


def test_a_home_page_follows_an_edit_in_the_admin(client, superuser, manager, homes):
    client.force_login(manager)
    assert "0116 496 0000" in home_page(client) and "0116 496 9999" not in home_page(client)
    client.force_login(superuser)
    home = CareHome.objects.get(ods_code="VM4Q7")
    url = reverse("admin:accounts_carehome_change", args=[home.pk])
    fields = {"ods_code": home.ods_code, "name": home.name, "region": home.region_id,
              "registered_landline": "0116 496 9999", "risk_rank": home.risk_rank}  # fmt: skip
    assert client.post(url, fields).status_code == 302
    client.force_login(manager)
    assert "0116 496 9999" in home_page(client)


def test_each_sort_and_page_of_a_home_is_kept_apart(client, manager, rosewood, homes):
    client.force_login(manager)
    for n in range(55):  # two pages of people
        StaffAccount.objects.create(home=rosewood, email=f"z{n:02d}@nhs.net")

    def staff(**params) -> str:
        return home_page(client, **params).split('id="staff"')[1]

    by_disable_date, by_state = staff(), staff(sort="state")  # not yet checked: first
    assert by_disable_date.index("amy.adams") < by_disable_date.index("z00")
    assert "z00" in by_state and "amy.adams" not in by_state  # on the second page
    second = staff(sort="state", page=2)
    assert "amy.adams" in second and "z00" not in second


def test_the_dashboards_rows_follow_the_view_and_an_edit(client, superuser, admin_user, homes):
    def names(**params) -> list[str]:
        rows = client.get(reverse("dashboard"), params).context["rows"]
        return [row.name for row in rows]

    client.force_login(admin_user)
    assert names() == ["Willow Court", "Rosewood Care Home"]  # at risk first
    assert names(q="Rose") == ["Rosewood Care Home"]
    assert names(risk="healthy") == ["Rosewood Care Home"]
    assert names(page=2) == names()  # past the last page: the last page
    client.force_login(superuser)
    home = CareHome.objects.get(ods_code="VN8P2")
    url = reverse("admin:accounts_carehome_change", args=[home.pk])
    fields = {"ods_code": home.ods_code, "name": "Willow House", "region": home.region_id,
              "risk_rank": home.risk_rank}  # fmt: skip
    assert client.post(url, fields).status_code == 302
    client.force_login(admin_user)
    assert names() == ["Willow House", "Rosewood Care Home"]


def test_an_orm_write_renews_the_page_once_committed(
    client, manager, rosewood_mailbox, homes, django_capture_on_commit_callbacks
):
    client.force_login(manager)
    assert "rosewood.carehome" in home_page(client).replace("<wbr>", "")
    with django_capture_on_commit_callbacks(execute=True) as bumps:
        rosewood_mailbox.delete()  # and its links with it
    assert len(bumps) == 3  # the mailbox and its two links
    assert "rosewood.carehome" not in home_page(client).replace("<wbr>", "")


def test_a_deleted_home_renews_the_versions_once(
    rosewood, homes, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as bumps:
        rosewood.delete()  # with its two accounts, its mailbox and their links
    assert len(bumps) == 1
    rosewood.save()  # the same object again: a new row (its pk was cleared)
    with django_capture_on_commit_callbacks() as bumps:
        rosewood.delete()
    assert len(bumps) == 1


def test_pages_are_kept_a_day_and_counts_a_week(client, admin_user, manager, homes, monkeypatch):
    """A page is larger than a count and there are many: the nightly check renews every
    region, so a kept page need not outlive a day."""
    timeouts = []
    backend = type(caches["default"])
    real_set = backend.set

    def recording_set(self, key, value, timeout=None, **kwargs):
        first = type(value[0]).__name__ if isinstance(value, list) and value else ""
        timeouts.append((type(value).__name__, first, timeout))
        return real_set(self, key, value, timeout, **kwargs)

    monkeypatch.setattr(backend, "set", recording_set)
    page, week = worklistcounts.PAGE_SECONDS, worklistcounts.KEEP_SECONDS
    assert (page, week) == (24 * 3600, 7 * 24 * 3600)
    client.force_login(manager)
    home_page(client)
    assert sorted(timeouts) == [("CheckRun", "", page), ("SafeString", "", page)]
    client.force_login(admin_user)
    timeouts.clear()
    client.get(reverse("dashboard"))
    assert ("list", "HomeRow", page) in timeouts and ("int", "", week) in timeouts
    assert ("SafeString", "", page) in timeouts  # below its buttons
    timeouts.clear()
    client.get(reverse("worklist"))
    rows = [timeout for kind, first, timeout in timeouts if first == "dict"]
    assert rows == [page, page]  # a page of people, a page of mailboxes
    assert ("SafeString", "", page) in timeouts  # below the region's form
    assert ("list", "tuple", week) in timeouts  # the people per to-do and date


# The paths a review found: a user renamed or deleted, a region renamed, an account moved by
# an ORM save, a write between reading the home and its version; and what is kept: one entry
# for every page number past the last, answers with the cache down, escaping, the same
# markup as the old templates, one renewal for homes deleted together.


def home_page_of(client, code="VM4Q7", **params) -> str:
    response = client.get(reverse("home_detail", args=[code]), params)
    assert response.status_code == 200
    return response.content.decode()


def body(page: str) -> str:
    """The part of a home page that is kept (below its name and links; no CSRF token)."""
    return page.split("Download staff accounts (CSV)</a></p>")[1].split("</main>")[0]


# A user's name is on a kept home page ("asked by ..."): renaming or deleting them renews it.
def test_home_page_follows_a_rename_of_the_user_who_asked_for_removal(
    client, manager, homes, django_capture_on_commit_callbacks
):
    out = io.StringIO()
    call_command("add_portal_user", manager.email, "--role", "manager", "--name", "Jane Old",
                 stdout=out)  # fmt: skip
    client.force_login(manager)
    amy = StaffAccount.objects.get(email="amy.adams@nhs.net")
    action = reverse("account_action", args=["VM4Q7", amy.pk, "removal-requested"])
    assert client.post(action, {"on": TODAY.strftime("%d/%m/%Y")}).status_code == 302
    assert "asked by Jane Old" in home_page_of(client)
    with django_capture_on_commit_callbacks(execute=True):
        call_command("add_portal_user", manager.email, "--role", "manager", "--name",
                     "Jane New", stdout=out)  # fmt: skip
    page = home_page_of(client)
    assert "asked by Jane New" in page, "kept page still names the user's old name"


def test_home_page_follows_the_deletion_of_the_manager_who_saw_a_log_in(
    client, manager, superuser, homes, django_capture_on_commit_callbacks
):
    client.force_login(manager)
    amy = StaffAccount.objects.get(email="amy.adams@nhs.net")
    action = reverse("account_action", args=["VM4Q7", amy.pk, "seen-log-in"])
    assert client.post(action, {"on": TODAY.strftime("%d/%m/%Y")}).status_code == 302
    assert "a manager saw them log in" in home_page_of(client)
    client.force_login(superuser)
    with django_capture_on_commit_callbacks(execute=True):
        url = reverse("admin:accounts_user_delete", args=[manager.pk])
        assert client.post(url, {"post": "yes"}).status_code == 302
    amy.refresh_from_db()
    assert amy.attested_by_id is None  # SET_NULL: a bulk UPDATE, no signal, no changed()
    page = home_page_of(client)
    assert "a manager saw them log in" not in page, "kept page still says a manager vouched"


# A region's name is in the dashboard's kept rows: renaming it in /admin/ renews them.
def test_dashboard_rows_follow_a_region_renamed_in_the_admin(
    client, superuser, admin_user, midlands, homes, django_capture_on_commit_callbacks
):
    def regions() -> set[str]:
        return {row.region for row in client.get(reverse("dashboard")).context["rows"]}

    client.force_login(admin_user)
    assert "Leicestershire" in regions()
    client.force_login(superuser)
    url = reverse("admin:accounts_region_change", args=[midlands.pk])
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(url, {"name": "Leicester and Rutland"}).status_code == 302
    assert Region.objects.get(pk=midlands.pk).name == "Leicester and Rutland"
    client.force_login(admin_user)
    assert "Leicester and Rutland" in regions(), "kept dashboard rows show the old name"


# An account moved to another home by an ORM save (the shell, a data fix) renews both
# homes' regions: the old home's page no longer lists it.
@pytest.mark.parametrize("update_fields", [None, ["home"], ["home_id"]])
def test_an_account_moved_by_an_orm_save_leaves_its_old_home(
    client, superuser, homes, willow, django_capture_on_commit_callbacks, update_fields
):
    client.force_login(superuser)
    assert "amy.adams" in home_page_of(client)
    amy = StaffAccount.objects.get(email="amy.adams@nhs.net")
    with django_capture_on_commit_callbacks(execute=True):
        amy.home_id = willow.pk
        amy.save(update_fields=update_fields)  # Django takes "home" or its column "home_id"
    assert "amy.adams" in home_page_of(client, "VN8P2")
    assert "amy.adams" not in home_page_of(client), "the old home's kept page still lists Amy"


# The home is read before its region's version: the kept page reads the home again, so a
# write that commits between the two is in what is kept under the new version.
def test_a_write_between_reading_the_home_and_its_version_is_not_kept(
    client, manager, homes, monkeypatch
):
    client.force_login(manager)
    later = TODAY + timedelta(days=60)
    check_commits_at_first_version_read(monkeypatch, later)
    home_page_of(client)  # rendered with the home read before the check
    assert CareHome.objects.get(ods_code="VM4Q7").checked_as_of == later
    kept = body(home_page_of(client))  # no write since: served from the cache
    caches["default"].clear()
    fresh = body(home_page_of(client))
    assert kept == fresh, "a page from before the check is kept under the check's version"


# Page numbers past the last share the last page's one entry (no user can fill the cache
# with ?page=1..999999).
def test_page_numbers_past_the_last_share_one_kept_entry(client, manager, homes, monkeypatch):
    client.force_login(manager)
    keys = []
    backend = type(caches["default"])
    real_set = backend.set

    def recording_set(self, key, value, timeout=None, **kwargs):
        if isinstance(value, str):  # a kept page (not a count)
            keys.append(key)
        return real_set(self, key, value, timeout, **kwargs)

    monkeypatch.setattr(backend, "set", recording_set)
    pages = {body(home_page_of(client, page=str(n))) for n in (1, 2, 3, 999999)}
    assert len(pages) == 1  # one page of people: the same page each time
    assert len(set(keys)) == 1, f"{len(set(keys))} kept entries for one page"


# The cache down: every kept page still answers.
def test_pages_answer_with_the_cache_down(client, settings, admin_user, manager, homes):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    client.force_login(admin_user)
    for url in (reverse("dashboard"), reverse("worklist"), reverse("home_detail", args=["VM4Q7"])):
        assert client.get(url).status_code == 200, url
    client.force_login(manager)
    for url in (reverse("dashboard"), reverse("home_detail", args=["VM4Q7"])):
        assert client.get(url).status_code == 200, url


# Markup in names, emails and landlines stays text in the Python-built rows.
NASTY = '<script>alert("x")</script>\'"&'


def test_markup_in_data_is_escaped_in_the_python_built_rows(client, admin_user, homes):
    home = CareHome.objects.get(ods_code="VM4Q7")
    CareHome.objects.filter(pk=home.pk).update(name=NASTY, registered_landline=NASTY)
    StaffAccount.objects.filter(email="amy.adams@nhs.net").update(display_name=NASTY)
    StaffAccount.objects.filter(email="wes.west@nhs.net").update(display_name=NASTY)
    worklistcounts.changed()
    client.force_login(admin_user)
    for url in (reverse("dashboard"), reverse("worklist"), reverse("home_detail", args=["VM4Q7"])):
        body = client.get(url).content.decode()
        assert "<script>alert" not in body, url


# The Python markup writes what 6b3d83f's template loops wrote (whitespace apart).
OLD_PEOPLE = (
    '{% for p in people %}<tr class="nhsuk-table__row">'
    '<td data-label="Name" class="nhsuk-table__cell portal-wrap">{{ p.name }}{% if p.name != p.email %}<br><span class="nhsuk-body-s">{{ p.email }}</span>{% endif %}</td>'
    '<td data-label="Home" class="nhsuk-table__cell"><a href="{% url \'home_detail\' p.ods_code %}">{{ p.home }}</a></td>'
    '<td data-label="ODS code" class="nhsuk-table__cell">{{ p.ods_code }}</td>'
    '<td data-label="What to do" class="nhsuk-table__cell">{{ p.what_to_do }}</td>'
    '<td data-label="Log in by" class="nhsuk-table__cell">{{ p.log_in_by|date:"j F Y"|default:"" }}</td>'
    '<td data-label="Waiting" class="nhsuk-table__cell">{% if p.waiting_since %}{{ p.days_waiting }} day{{ p.days_waiting|pluralize }} (since {{ p.waiting_since|date:"j F Y" }}){% endif %}</td>'
    "</tr>{% endfor %}"
)  # fmt: skip
OLD_MAILBOXES = (
    '{% for m in mailboxes %}<tr class="nhsuk-table__row">'
    '<td data-label="Shared mailbox" class="nhsuk-table__cell portal-wrap">{{ m.email }}</td>'
    '<td data-label="Risk" class="nhsuk-table__cell">{{ m.risk }}</td>'
    '<td data-label="Home" class="nhsuk-table__cell"><a href="{% url \'home_detail\' m.ods_code %}">{{ m.home }}</a></td>'
    '<td data-label="ODS code" class="nhsuk-table__cell">{{ m.ods_code }}</td>'
    '<td data-label="Registered landline" class="nhsuk-table__cell">{{ m.landline|default:"not known: call from the home\'s registered landline" }}</td>'
    "</tr>{% endfor %}"
)  # fmt: skip


def _same(a: str, b: str) -> bool:
    return "".join(str(a).split()) == "".join(str(b).split())


def test_worklist_rows_match_the_old_template(db):
    from datetime import date

    people = [
        {"name": NASTY, "email": "a@nhs.net", "ods_code": "VM4Q7", "home": NASTY,
         "what_to_do": NASTY, "log_in_by": date(2026, 3, 3), "waiting_since": date(2026, 1, 1),
         "days_waiting": 1},
        {"name": "b@nhs.net", "email": "b@nhs.net", "ods_code": "VM4Q7", "home": "H",
         "what_to_do": "x", "log_in_by": None, "waiting_since": None, "days_waiting": 0},
        {"name": "c", "email": "c@nhs.net", "ods_code": "VM4Q7", "home": "H",
         "what_to_do": "x", "log_in_by": None, "waiting_since": date(2026, 1, 1),
         "days_waiting": 0},
    ]  # fmt: skip
    boxes = [
        {"email": NASTY, "risk": NASTY, "ods_code": "VM4Q7", "home": NASTY, "landline": NASTY},
        {"email": "m@nhs.net", "risk": "r", "ods_code": "VM4Q7", "home": "H", "landline": ""},
    ]
    old = Template(OLD_PEOPLE).render(Context({"people": people}))
    assert _same(worklistrows.people(people), old)
    old = Template(OLD_MAILBOXES).render(Context({"mailboxes": boxes}))
    # The one byte difference: the template's literal default was not escaped, format_html
    # escapes NO_LANDLINE ("home&#x27;s"); the same text in a browser.
    assert _same(html.unescape(worklistrows.mailboxes(boxes)), html.unescape(old))


def test_staff_rows_are_escaped(client, manager, rosewood, homes):
    StaffAccount.objects.filter(email="amy.adams@nhs.net").update(display_name=NASTY)
    worklistcounts.changed()
    client.force_login(manager)
    page = home_page_of(client)
    assert "<script>alert" not in page
    assert staffrows.CARD.count("{name}") == 1


OLD_CARDS = """  {% for r in rows %}
  <li class="nhsuk-card portal-staff-card">
    <div class="nhsuk-card__content">
      <h3 class="nhsuk-card__heading nhsuk-heading-s portal-wrap">{{ r.name_html }}</h3>
      <p>{{ r.state_html }} <span class="nhsuk-body-s">{{ r.state_meaning }}.</span></p>
      <dl class="nhsuk-summary-list">
        <div class="nhsuk-summary-list__row"><dt class="nhsuk-summary-list__key">Email</dt><dd class="nhsuk-summary-list__value portal-wrap">{{ r.email_html }}</dd></div>
        {% if r.deadline %}<div class="nhsuk-summary-list__row"><dt class="nhsuk-summary-list__key">{{ r.deadline_label }}</dt><dd class="nhsuk-summary-list__value">{{ r.deadline }}</dd></div>{% endif %}
        <div class="nhsuk-summary-list__row"><dt class="nhsuk-summary-list__key">Last activity</dt><dd class="nhsuk-summary-list__value">{{ r.activity_on }}{% if r.activity_from %} <span class="nhsuk-body-s">({{ r.activity_from }})</span>{% endif %}</dd></div>
        <div class="nhsuk-summary-list__row"><dt class="nhsuk-summary-list__key">Shared mailboxes</dt><dd class="nhsuk-summary-list__value portal-wrap">{{ r.mailboxes_html }}</dd></div>
      </dl>
      {% if r.removal %}<p class="nhsuk-body-s">{{ r.removal }}</p>{% endif %}
      {% if r.actions %}<div class="portal-staff-card__actions">{% for url, words in r.actions %}<a class="nhsuk-button nhsuk-button--secondary nhsuk-button--small" href="{{ url }}">{{ words }}<span class="nhsuk-u-visually-hidden"> for {{ r.name }} ({{ r.email }})</span></a>{% endfor %}</div>{% endif %}
    </div>
  </li>
  {% endfor %}
"""
OLD_TABLE = """  {% for r in rows %}
    <tr class="nhsuk-table__row">
      <td class="nhsuk-table__cell">{{ r.display_name }}<br><span class="nhsuk-body-s portal-wrap">{{ r.email_html }}</span></td>
      <td class="nhsuk-table__cell">{{ r.state_html }}{% if r.removal %}<p class="nhsuk-body-s">{{ r.removal }}</p>{% endif %}</td>
      <td class="nhsuk-table__cell">{{ r.activity_on }}{% if r.activity_from %} <span class="nhsuk-body-s">({{ r.activity_from }})</span>{% endif %}</td>
      <td class="nhsuk-table__cell">{{ r.days|default_if_none:"" }}</td>
      <td class="nhsuk-table__cell">{{ r.deadline }}</td>
      <td class="nhsuk-table__cell portal-wrap">{{ r.mailboxes_html }}</td>
      <td class="nhsuk-table__cell">
        <ul class="nhsuk-list nhsuk-body-s">{% for url, words in r.actions %}<li><a href="{{ url }}">{{ words }}<span class="nhsuk-u-visually-hidden"> for {{ r.name }} ({{ r.email }})</span></a></li>{% endfor %}</ul>
      </td>
    </tr>
  {% endfor %}
"""


def test_staff_and_dashboard_rows_match_the_old_templates(client, admin_user, manager, homes):
    from accounts import dashboard, homerows

    amy = StaffAccount.objects.get(email="amy.adams@nhs.net")
    StaffAccount.objects.filter(pk=amy.pk).update(display_name=NASTY)
    client.force_login(manager)
    action = reverse("account_action", args=["VM4Q7", amy.pk, "removal-requested"])
    client.post(action, {"on": TODAY.strftime("%d/%m/%Y")})
    home = CareHome.objects.get(ods_code="VM4Q7")
    CareHome.objects.filter(pk=home.pk).update(name=NASTY)
    for sort in dashboard.SORTS:
        summary = dashboard.summaries([home])[0]
        page = dashboard.home_accounts(home, sort, "1", summary.accounts)
        rows = staffrows.rows(page.object_list, home, [m.pk for m in summary.mailboxes])
        old = Template("{% load portal %}" + OLD_CARDS).render(Context({"rows": rows}))
        assert _same("".join(r.card_html for r in rows), old)
        old = Template("{% load portal %}" + OLD_TABLE).render(Context({"rows": rows}))
        assert _same("".join(r.table_html for r in rows), old)
    values = dashboard.ranked_homes(CareHome.objects.all()).values_list(*homerows.COLUMNS)
    rows = homerows.rows(values)
    old = Template(
        '{% for row in rows %}<tr class="nhsuk-table__row">'
        '<td class="nhsuk-table__cell"><a href="{{ row.url }}">{{ row.name }}</a></td>'
        '<td class="nhsuk-table__cell">{{ row.ods_code }}</td>'
        '<td class="nhsuk-table__cell">{{ row.region }}</td>'
        '<td class="nhsuk-table__cell">{{ row.risk_html }}</td>'
        '<td class="nhsuk-table__cell">{{ row.cut_off }}</td></tr>{% endfor %}'
    ).render(Context({"rows": rows}))
    assert _same(homerows.html(rows), old)


# A home deleted with its accounts renews the versions once, also through a queryset (the
# admin's "delete selected", a data fix), whose origin is the QuerySet, not a CareHome.
@pytest.mark.parametrize("codes", [["VM4Q7"], ["VM4Q7", "VN8P2"]])
def test_homes_deleted_as_a_queryset_renew_the_versions_once(
    homes, django_capture_on_commit_callbacks, codes
):
    with django_capture_on_commit_callbacks() as bumps:
        CareHome.objects.filter(ods_code__in=codes).delete()
    assert len(bumps) == 1, f"{len(bumps)} renewals of every region for one delete()"


def test_odd_page_numbers_answer(client, manager, homes):
    client.force_login(manager)
    for page in ["0", "-1", "١٢", "²", "9999999999", "12345678901234567890", " 2", "1.5", "x"]:
        assert "amy.adams" in home_page_of(client, page=page), page


def test_a_home_with_no_accounts_answers_any_page(client, superuser, db):
    CareHome.objects.create(ods_code="VZ0Z0", name="Empty Home")
    client.force_login(superuser)
    for page in ["", "1", "2", "999999999"]:
        assert "Empty Home" in home_page_of(client, "VZ0Z0", page=page)


# The date of the last national check is on every kept page, and kept with them.
def test_the_last_check_on_kept_pages_follows_each_new_run(
    client, admin_user, manager, homes, django_capture_on_commit_callbacks
):
    def dates() -> list[str]:
        shown = []
        for user, url in [(admin_user, reverse("dashboard")), (admin_user, reverse("worklist")),
                          (manager, reverse("home_detail", args=["VM4Q7"]))]:  # fmt: skip
            client.force_login(user)
            page = client.get(url).content.decode()
            shown.append(page.split("from the check of ", 1)[1].split(",", 1)[0])
        return shown

    assert dates() == [f"{TODAY:%-d %B %Y}"] * 3
    earlier = TODAY - timedelta(days=3)
    run_check(earlier)  # the last to end, if not the latest date
    assert dates() == [f"{earlier:%-d %B %Y}"] * 3
    with django_capture_on_commit_callbacks(execute=True):  # a run saved some other way
        CheckRun.objects.create(
            as_of=TODAY - timedelta(days=9), trigger=CheckRun.Trigger.COMMAND,
            outcome=CheckRun.Outcome.OK, finished_at=timezone.now() + timedelta(minutes=1),
        )  # fmt: skip
    assert dates() == [f"{TODAY - timedelta(days=9):%-d %B %Y}"] * 3
    with django_capture_on_commit_callbacks(execute=True):
        CheckRun.objects.order_by("-finished_at").first().delete()
    assert dates() == [f"{earlier:%-d %B %Y}"] * 3
    last = CheckRun.objects.order_by("-finished_at").first()
    last.outcome = CheckRun.Outcome.FAILED  # a run that ended well, marked failed after all
    with django_capture_on_commit_callbacks(execute=True):
        last.save()
    assert dates() == [f"{TODAY:%-d %B %Y}"] * 3


def test_a_region_deleted_leaves_the_kept_dashboards_filter(
    client, admin_user, homes, django_capture_on_commit_callbacks
):
    # Each region is in the versions of those who see every home: a region deleted (it has no
    # homes) or added is a page kept under other versions.
    empty = Region.objects.create(name="Nowhere Shire")
    client.force_login(admin_user)
    assert "Nowhere Shire" in client.get(reverse("dashboard")).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        empty.delete()
    assert "Nowhere Shire" not in client.get(reverse("dashboard")).content.decode()


# A second review's cases: a kept worklist carried the first request's query string into its
# mailbox page links; an import's judgement run (national-looking until it ends) renewed
# every region's version.


def mailbox_links(body: str) -> list[str]:
    return re.findall(r'href="([^"]*mailbox_page=[^"]*)"', body)


def test_a_kept_worklist_never_carries_another_requests_query_string(
    client, admin_user, rosewood, monkeypatch
):
    """The worklist's body is kept under (region, page, mailbox page) alone; its mailbox page
    links must not carry what the first request's query string held besides those."""
    monkeypatch.setattr(views, "WORKLIST_PAGE", 1)
    for n in range(3):  # orphaned: no accounts
        SharedMailbox.objects.create(home=rosewood, email=f"box{n}@nhs.net")
    run_check(TODAY)
    other = User.objects.create_user("olga.admin@example.org", PASSWORD, role=User.Role.ADMIN)
    client.force_login(other)
    first = client.get(reverse("worklist"), {"next": "https://evil.example/"})
    assert first.status_code == 200
    client.force_login(admin_user)
    kept = client.get(reverse("worklist")).content.decode()
    cache.clear()
    fresh = client.get(reverse("worklist")).content.decode()
    assert mailbox_links(fresh) and "evil" not in " ".join(mailbox_links(fresh))
    assert mailbox_links(kept) == mailbox_links(fresh)


def region_version(region_key):
    versions = WorklistVersion.objects.filter(region_key=region_key)
    return versions.values_list("version", flat=True).first()


@pytest.mark.parametrize("email", ["new.person@nhs.net", "amy.adams@nhs.net"])
def test_an_accounts_import_into_one_region_keeps_other_regions_pages(
    client, rosewood, willow, tmp_path, django_capture_on_commit_callbacks, email
):
    """A region admin's kept pages outlive writes in other regions (worklistcounts.py): an
    import of one Leicestershire account (new, or known) must not renew
    Yorkshire's version, and Yorkshire's admin reads their kept dashboard at a kept page's
    cost."""
    make_account(willow, "wes.west@nhs.net", days_ago=10, as_of=TODAY)
    make_account(rosewood, "amy.adams@nhs.net", days_ago=10, as_of=TODAY)
    run_check(TODAY)
    yorkshire = User.objects.create_user("yan.york@example.org", PASSWORD, role=User.Role.ADMIN)
    yorkshire.regions.add(willow.region)
    client.force_login(yorkshire)
    client.get(reverse("dashboard"))
    kept_cost = queries(client, reverse("dashboard"))
    before = region_version(willow.region_id)
    path = tmp_path / "accounts.csv"
    path.write_text(f"email,ods_code,display_name\n{email},VM4Q7,New Person\n")
    with django_capture_on_commit_callbacks(execute=True):
        call_command("import_accounts", str(path), stdout=io.StringIO())
    assert StaffAccount.objects.filter(email=email, home=rosewood).exists()
    assert region_version(willow.region_id) == before
    assert queries(client, reverse("dashboard")) == kept_cost
