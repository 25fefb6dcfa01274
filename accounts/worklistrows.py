"""The worklist's tables, each row marked up once in Python. A page lists fifty people and
fifty mailboxes; through the template (a reverse() for each home's link, the date filter,
a dozen tags a row) they cost more CPU than every query of the page."""

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from .dashboard import long_date
from .homerows import home_url_maker

PERSON = (
    '<tr class="nhsuk-table__row">'
    '<td data-label="Name" class="nhsuk-table__cell portal-wrap">{}{}</td>'
    '<td data-label="Home" class="nhsuk-table__cell"><a href="{}">{}</a></td>'
    '<td data-label="ODS code" class="nhsuk-table__cell">{}</td>'
    '<td data-label="What to do" class="nhsuk-table__cell">{}</td>'
    '<td data-label="Log in by" class="nhsuk-table__cell">{}</td>'
    '<td data-label="Waiting" class="nhsuk-table__cell">{}</td>'
    "</tr>"
)
MAILBOX = (
    '<tr class="nhsuk-table__row">'
    '<td data-label="Shared mailbox" class="nhsuk-table__cell portal-wrap">{}</td>'
    '<td data-label="Risk" class="nhsuk-table__cell">{}</td>'
    '<td data-label="Home" class="nhsuk-table__cell"><a href="{}">{}</a></td>'
    '<td data-label="ODS code" class="nhsuk-table__cell">{}</td>'
    '<td data-label="Registered landline" class="nhsuk-table__cell">{}</td>'
    "</tr>"
)
NO_LANDLINE = mark_safe("not known: call from the home's registered landline")  # as written


def _waiting(person: dict) -> str:
    since = person["waiting_since"]
    if not since:
        return ""
    days = person["days_waiting"]
    return f"{days} day{'' if days == 1 else 's'} (since {long_date(since)})"


def people(rows: list[dict]) -> SafeString:
    """A page of worklist.rows() as table rows."""
    url = home_url_maker()
    return format_html_join(
        "\n",
        PERSON,
        (
            (
                p["name"],
                format_html('<br><span class="nhsuk-body-s">{}</span>', p["email"])
                if p["name"] != p["email"]
                else "",
                url(p["ods_code"]),
                p["home"],
                p["ods_code"],
                p["what_to_do"],
                long_date(p["log_in_by"]) if p["log_in_by"] else "",
                _waiting(p),
            )
            for p in rows
        ),
    )


def mailboxes(rows: list[dict]) -> SafeString:
    """A page of worklist.mailboxes() as table rows."""
    url = home_url_maker()
    return format_html_join(
        "\n",
        MAILBOX,
        (
            (m["email"], m["risk"], url(m["ods_code"]), m["home"], m["ods_code"],
             m["landline"] or NO_LANDLINE)
            for m in rows
        ),
    )  # fmt: skip
